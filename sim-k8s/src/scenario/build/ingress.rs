//! Stage 2, Ingress: Ingresses, IngressClasses and TLS Secrets validated; the apiserver's
//! DefaultIngressClass admission (an Ingress created without a class gets the one
//! IngressClass annotated `ingressclass.kubernetes.io/is-default-class: "true"`); and
//! the ingress-nginx add-on, installed as real objects (IngressClass `nginx`,
//! Deployment and NodePort Service `ingress-nginx-controller` in namespace
//! `ingress-nginx`; a LoadBalancer Service, or hostNetwork pods and no Service, for the
//! other exposures) as soon as the scenario has an Ingress.

use super::super::schema::IngressControllerDoc;
use super::Builder;
use crate::manifest::{self, ManifestObject, Object};
use crate::model::ingress::{Ingress, IngressClass};
use crate::model::secret::TlsSecret;
use crate::model::{FieldError, FieldPath};

/// The add-on's manifests (see the file's header).
pub const ADDON_MANIFEST: &str = include_str!("../../addons/ingress-nginx.yaml");
/// The name its objects' error locations use.
pub const ADDON_FILE: &str = "<ingress-nginx add-on>";
/// How the controller can be exposed.
const EXPOSE_SUPPORTED: [&str; 3] = ["NodePort", "LoadBalancer", "hostNetwork"];

/// The Ingress world of a scenario.
#[derive(Clone, Debug, Default)]
pub struct IngressObjects {
    pub ingresses: Vec<Ingress>,
    pub classes: Vec<IngressClass>,
    pub tls_secrets: Vec<TlsSecret>,
}

impl Builder<'_> {
    /// The add-on's objects, when an Ingress exists (else none).
    pub(super) fn ingress_addon(
        &mut self,
        objects: &[ManifestObject],
        doc: Option<&IngressControllerDoc>,
    ) -> Vec<ManifestObject> {
        let path = FieldPath::root().key("cluster").key("ingressController").key("expose");
        if let Some(e) = doc.and_then(|d| d.expose.as_deref())
            && !EXPOSE_SUPPORTED.contains(&e)
        {
            self.invalid(
                &path,
                format!("unknown value {e:?}: expected NodePort, LoadBalancer or hostNetwork"),
            );
        }
        if !objects.iter().any(|o| matches!(o.object, Object::Ingress(_))) {
            return vec![];
        }
        let expose = doc.and_then(|d| d.expose.as_deref()).unwrap_or("NodePort");
        let addon =
            manifest::parse_str(ADDON_FILE, &addon_manifest(expose)).expect("the add-on manifest is valid");
        // A class named `nginx` written by the user replaces the add-on's.
        let user_nginx = objects.iter().any(
            |o| matches!(&o.object, Object::IngressClass(c) if c.metadata.name.as_deref() == Some("nginx")),
        );
        addon.into_iter().filter(|o| !(user_nginx && matches!(o.object, Object::IngressClass(_)))).collect()
    }

    pub(super) fn ingress_objects(&mut self, objects: &[ManifestObject]) -> IngressObjects {
        let mut out = IngressObjects::default();
        for o in objects {
            match &o.object {
                Object::IngressClass(c) => match IngressClass::from_k8s(c) {
                    Ok(c) => out.classes.push(c),
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                Object::Secret(s) => match TlsSecret::from_k8s(s) {
                    Ok(Some(t)) => out.tls_secrets.push(t),
                    Ok(None) => {}
                    Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
                },
                _ => {}
            }
        }
        let defaults: Vec<&IngressClass> = out.classes.iter().filter(|c| c.is_default).collect();
        for o in objects {
            let Object::Ingress(i) = &o.object else { continue };
            match Ingress::from_k8s(i) {
                Ok(mut ing) => {
                    if ing.class().is_none() {
                        match defaults.as_slice() {
                            [one] => ing.class_name = Some(one.name.clone()),
                            [] => {}
                            many => {
                                let msg = format!(
                                    "{} default IngressClasses were found, only 1 allowed",
                                    many.len()
                                );
                                self.manifest_error(&o.source, FieldError::forbidden(FieldPath::root(), msg));
                            }
                        }
                    }
                    out.ingresses.push(ing);
                }
                Err(errs) => errs.into_iter().for_each(|e| self.manifest_error(&o.source, e)),
            }
        }
        out
    }
}

/// The add-on's manifests for an exposure. `LoadBalancer` is ingress-nginx's cloud
/// install: a LoadBalancer Service with `externalTrafficPolicy: Local` (so the
/// controller sees, and forwards in X-Forwarded-For, the client's own address) and
/// nodePorts allocated like any other. `hostNetwork` is the bare-metal guide's "via the
/// host network": the controller pod runs in its node's namespace and nginx binds the
/// node's ports 80 and 443 (hostPorts, defaulted from the container ports, so at most one
/// controller per node); `dnsPolicy: ClusterFirstWithHostNet` as the guide says, and no
/// Service, which that setup does not use (the guide recommends deleting it).
fn addon_manifest(expose: &str) -> String {
    match expose {
        "LoadBalancer" => ADDON_MANIFEST
            .replace("  type: NodePort\n", "  type: LoadBalancer\n  externalTrafficPolicy: Local\n")
            .replace(", nodePort: 30080", "")
            .replace(", nodePort: 30443", ""),
        "hostNetwork" => {
            let without_service = ADDON_MANIFEST.split("\n---\napiVersion: v1\nkind: Service\n").next();
            without_service.expect("split yields a first part").replace(
                "    spec:\n      containers:\n",
                "    spec:\n      hostNetwork: true\n      dnsPolicy: ClusterFirstWithHostNet\n      containers:\n",
            ) + "\n"
        }
        _ => ADDON_MANIFEST.to_string(),
    }
}
