variable "name" {
  description = "Prefix of every resource's name; also the value of the phoenix:fleet tag."
  type        = string
  default     = "phoenix-exit"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: lowercase letters, digits and dashes, 2 to 31 characters."
  }
}

variable "vpc_id" {
  description = "The VPC of the exit nodes' subnets."
  type        = string
}

variable "ami_id" {
  description = "Alpine Linux 3.17 or later with cloud-init (daemon/deploy/cloud-init.yaml targets OpenRC)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of every exit node (the release binary must match its architecture)."
  type        = string
  default     = "c6i.large"
}

variable "release_url" {
  description = "HTTPS URL of the phoenix-node binary of this release (__RELEASE_URL__ in cloud-init.yaml)."
  type        = string

  validation {
    condition     = startswith(var.release_url, "https://")
    error_message = "release_url must be an https:// URL."
  }
}

variable "release_sha256" {
  description = "SHA-256 of that binary, hex (__RELEASE_SHA256__); a node refuses any other file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.release_sha256))
    error_message = "release_sha256 must be 64 lowercase hex digits."
  }
}

variable "api_url" {
  description = "Base URL of the config role's node API (__API_URL__)."
  type        = string

  validation {
    condition     = startswith(var.api_url, "https://")
    error_message = "api_url must be an https:// URL."
  }
}

variable "wireguard_port" {
  description = "UDP port of WireGuard on every node: the only port open to the Internet."
  type        = number
  default     = 51820

  validation {
    condition     = var.wireguard_port >= 1 && var.wireguard_port <= 65535
    error_message = "wireguard_port must be a port number."
  }
}

variable "client_ipv4_cidrs" {
  description = "IPv4 networks VPN clients may come from (WireGuard answers only keys it knows)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "client_ipv6_cidrs" {
  description = "IPv6 networks VPN clients may come from."
  type        = list(string)
  default     = ["::/0"]
}

variable "root_volume_size" {
  description = "Root volume size in GiB (keys and logs live in tmpfs, never on it)."
  type        = number
  default     = 8
}

variable "root_device_name" {
  description = "Device name of the AMI's root volume."
  type        = string
  default     = "/dev/xvda"
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the root volumes; null: the account's default EBS key (still encrypted)."
  type        = string
  default     = null
}

variable "enrollment_secret_arn" {
  description = <<-EOT
    Null by default, and best left so: nodes enroll with their signed instance identity
    document (PHOENIX_NODE_ATTESTATION=aws) and need no secret. Set only for a bootstrap of
    your own that enrolls with an enrollment key kept in Secrets Manager: the instance role
    may then call secretsmanager:GetSecretValue on exactly this ARN, and on nothing else.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.enrollment_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.enrollment_secret_arn))
    error_message = "enrollment_secret_arn must be the full ARN of one Secrets Manager secret (no wildcard)."
  }
}

variable "locations" {
  description = <<-EOT
    One Auto Scaling group per location code (the config role's, e.g. de-fra): its subnets
    (public, in the location's region) and its size bounds. The code becomes the instance tag
    phoenix:location, which the node reads at boot, and the metric's Location dimension.
  EOT
  type = map(object({
    subnet_ids       = list(string)
    min_size         = number
    max_size         = number
    desired_capacity = optional(number)
  }))

  validation {
    condition     = alltrue([for code in keys(var.locations) : can(regex("^[a-z]{2}-[a-z0-9]{2,20}$", code))])
    error_message = "every location code must look like de-fra (the node refuses other tags)."
  }

  validation {
    condition     = alltrue([for l in values(var.locations) : l.min_size >= 1 && l.min_size <= l.max_size && length(l.subnet_ids) > 0])
    error_message = "every location needs subnets and 1 <= min_size <= max_size."
  }
}

variable "target_peers_per_node" {
  description = "Target tracking: the median number of active peers per serving node (as the worker publishes it) to keep in each location."
  type        = number
  default     = 250
}

variable "instance_warmup_seconds" {
  description = "Seconds a new node takes to boot, enroll and serve, before its figures count."
  type        = number
  default     = 300
}

variable "drain_heartbeat_timeout" {
  description = <<-EOT
    Seconds the terminating lifecycle hook waits without a heartbeat. The worker's reaper
    records one on every run (PHOENIX_REAPER_INTERVAL_SECONDS, 60) while the node drains, so
    this only matters when the worker is down; then the instance is terminated anyway
    (CONTINUE). AWS ends any wait after 100 x this or 48 h, whichever is shorter.
  EOT
  type        = number
  default     = 900

  validation {
    condition     = var.drain_heartbeat_timeout >= 30 && var.drain_heartbeat_timeout <= 7200
    error_message = "drain_heartbeat_timeout must be between 30 and 7200 seconds."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
