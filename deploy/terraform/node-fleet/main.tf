locals {
  # The same names as the worker's (phoenix.worker.fleet_metrics and phoenix.worker.reaper);
  # tests/deploy/test_terraform.py holds them equal.
  metric_namespace = "Phoenix/Fleet"
  metric_name      = "PeersPerNode"
  metric_dimension = "Location"
  drain_hook       = "phoenix-drain"

  # The shipped user data, its per-release placeholders filled. file() and replace(), not
  # templatefile(): the file's shell scripts use ${...} themselves. No secret goes in.
  user_data = replace(
    replace(
      replace(
        file("${path.module}/../../../daemon/deploy/cloud-init.yaml"),
        "__RELEASE_URL__", var.release_url,
      ),
      "__RELEASE_SHA256__", var.release_sha256,
    ),
    "__API_URL__", var.api_url,
  )

  tags = merge(var.tags, { "phoenix:fleet" = var.name })
}

# --- Network: WireGuard in, anything out -------------------------------------------------

resource "aws_security_group" "node" {
  #checkov:skip=CKV_AWS_382:An exit node forwards its clients' traffic to any Internet address, port and protocol; the node's own nftables forward chain refuses private, link-local and metadata ranges (docs/node.md).
  name_prefix = "${var.name}-"
  description = "Phoenix exit nodes: WireGuard in, Internet out; no SSH"
  vpc_id      = var.vpc_id
  tags        = local.tags

  ingress {
    description      = "WireGuard from VPN clients"
    protocol         = "udp"
    from_port        = var.wireguard_port
    to_port          = var.wireguard_port
    cidr_blocks      = var.client_ipv4_cidrs
    ipv6_cidr_blocks = var.client_ipv6_cidrs
  }

  egress {
    description      = "Clients' traffic to the Internet; the config role; release downloads"
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

# --- Instance identity: a role that may do nothing by default -----------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-"
  description        = "Phoenix exit nodes: no permission unless enrollment_secret_arn is set"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.node.name
  tags        = local.tags
}

# Only with enrollment_secret_arn (see the module's README): read that one secret, nothing else.
data "aws_iam_policy_document" "enrollment_secret" {
  count = var.enrollment_secret_arn == null ? 0 : 1

  statement {
    sid       = "ReadOwnEnrollmentSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.enrollment_secret_arn]
  }
}

resource "aws_iam_role_policy" "enrollment_secret" {
  count = var.enrollment_secret_arn == null ? 0 : 1

  name_prefix = "${var.name}-enrollment-secret-"
  role        = aws_iam_role.node.id
  policy      = data.aws_iam_policy_document.enrollment_secret[0].json
}

# --- Launch template: one per location, so the location tag is set by the launch itself ------

resource "aws_launch_template" "node" {
  for_each = var.locations

  name_prefix            = "${var.name}-${each.key}-"
  description            = "Phoenix exit node, location ${each.key}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.node.arn
  }

  # IMDSv2 only, never reachable one hop away (a container, or a forwarded packet), and the
  # instance's tags readable there: cloud-init reads phoenix:location from it at every boot.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      delete_on_termination = true
    }
  }

  network_interfaces {
    #checkov:skip=CKV_AWS_88:An exit node is reached by its clients at its public address; the security group admits only WireGuard's UDP port.
    associate_public_ip_address = true
    delete_on_termination       = true
    security_groups             = [aws_security_group.node.id]
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { "Name" = "${var.name}-${each.key}", "phoenix:location" = each.key })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { "phoenix:location" = each.key })
  }

  tags = merge(local.tags, { "phoenix:location" = each.key })
}

# --- One Auto Scaling group per location ----------------------------------------------------

resource "aws_autoscaling_group" "node" {
  for_each = var.locations

  # PHOENIX_NODE_AWS_GROUPS: the reaper acts only on instances of these named groups.
  name                    = "${var.name}-${each.key}"
  vpc_zone_identifier     = each.value.subnet_ids
  min_size                = each.value.min_size
  max_size                = each.value.max_size
  desired_capacity        = each.value.desired_capacity
  health_check_type       = "EC2"
  default_instance_warmup = var.instance_warmup_seconds

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { "phoenix:location" = each.key })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Target tracking moves the desired capacity; a plan must not move it back.
    ignore_changes = [desired_capacity]
  }
}

# Scale-in drains first: a terminating instance waits until the worker's reaper has seen its
# node drained by the config role (no active peer left), then completes the action. Without a
# heartbeat (worker down) the wait ends after the timeout and the instance goes anyway.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  for_each = var.locations

  name                   = local.drain_hook
  autoscaling_group_name = aws_autoscaling_group.node[each.key].name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.drain_heartbeat_timeout
  default_result         = "CONTINUE"
}

# Peers per serving node, per location, as the worker's fleet_metrics job publishes it (the
# nodes have no AWS permission). No data (worker down): target tracking does nothing.
resource "aws_autoscaling_policy" "peers_per_node" {
  for_each = var.locations

  name                      = "${var.name}-${each.key}-peers-per-node"
  autoscaling_group_name    = aws_autoscaling_group.node[each.key].name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_seconds

  target_tracking_configuration {
    target_value = var.target_peers_per_node

    customized_metric_specification {
      namespace   = local.metric_namespace
      metric_name = local.metric_name
      statistic   = "Average"
      unit        = "Count"

      metric_dimension {
        name  = local.metric_dimension
        value = each.key
      }
    }
  }
}
