terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: launch template instance_metadata_tags, ASG default_instance_warmup, target
      # tracking customized metrics. A new major is taken on purpose, never by accident.
      version = ">= 5.30.0, < 6.0.0"
    }
  }
}
