output "group_names" {
  description = "Auto Scaling group per location: PHOENIX_NODE_AWS_GROUPS is their names, comma-separated."
  value       = { for code, group in aws_autoscaling_group.node : code => group.name }
}

output "launch_template_ids" {
  description = "Launch template per location."
  value       = { for code, template in aws_launch_template.node : code => template.id }
}

output "security_group_id" {
  description = "The exit nodes' security group (WireGuard in, Internet out)."
  value       = aws_security_group.node.id
}

output "instance_role_arn" {
  description = "The exit nodes' instance role (no permission unless enrollment_secret_arn is set)."
  value       = aws_iam_role.node.arn
}

output "drain_hook_name" {
  description = "The terminating lifecycle hook the worker's reaper completes."
  value       = local.drain_hook
}

output "metric" {
  description = "The CloudWatch metric the worker's fleet_metrics job publishes and target tracking follows."
  value = {
    namespace = local.metric_namespace
    name      = local.metric_name
    dimension = local.metric_dimension
  }
}

output "worker_policy_json" {
  description = "IAM policy for the worker's AWS identity: reap, drain and tag in these groups only, publish the fleet metric."
  value       = data.aws_iam_policy_document.worker.json
}
