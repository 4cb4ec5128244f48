//! Normalised Kubernetes objects. (in progress)
