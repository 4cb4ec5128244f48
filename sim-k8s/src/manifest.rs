//! Manifests: real Kubernetes YAML in. (in progress)
