# What the worker's own AWS identity (not the nodes') needs for this fleet, as a policy
# document for whoever grants it (an IRSA role, an instance role): see the `worker_policy_json`
# output. Nothing here is attached to anything.
data "aws_iam_policy_document" "worker" {
  statement {
    sid = "ReadFleet"
    # Describe calls support no resource-level permission.
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "ec2:DescribeInstances",
    ]
    resources = ["*"]
  }

  statement {
    sid = "DrainAndTerminateInTheseGroupsOnly"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = [for group in aws_autoscaling_group.node : group.arn]
  }

  statement {
    sid       = "TagOwnInstancesWithTheirNodeId"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:aws:ec2:*:*:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/phoenix:fleet"
      values   = [var.name]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["phoenix:node-id"]
    }
  }

  statement {
    sid       = "PublishFleetMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource: the namespace condition limits it
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metric_namespace]
    }
  }
}
