//! Kubernetes: a Deployment per type (`replicas` its formation, `app.kubernetes.io/name` and
//! `component` labels, the selector its template's labels), a Job for a one-shot
//! (`ready = "exit:0"`) and the release phase (an Argo CD PreSync hook), a Service for a type that listens, the environment in a ConfigMap and
//! the secret-looking keys in a Secret, `terminationGracePeriodSeconds`, and a
//! `readinessProbe` from `ready`. The kubelet expands `$(VAR)` in `command`, so a `$` there
//! is escaped ([`escape::kubernetes`]); ConfigMap and Secret values are taken as they are.
//! One YAML stream of JSON documents ([`escape::yaml_json`]: every YAML reader reads it).

use serde_json::{Map, Value, json};

use super::{
    Export, File, Gate, MARK, Note, Options, Probe, container_command, escape, gate,
    loopback_notes, whole_seconds, with_ports,
};
use crate::config::{ProcessType, Stack};

pub fn render(stack: &Stack, options: &Options, image: &str) -> Export {
    let app = options.app.to_lowercase().replace(['_', '.'], "-");
    let mut notes = loopback_notes(stack);
    let mut env_annotations = json!({ "procmux/generated": MARK });
    if !notes.is_empty() {
        env_annotations["procmux/warnings"] = Value::from(
            notes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    let annotations = json!({ "procmux/generated": MARK });
    let shared = with_ports(stack, &stack.env);
    let mut documents = env_documents(&format!("{app}-"), shared.clone(), &env_annotations);
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let port = stack.first_port(&kind.name);
        // A DNS label: an included entry's `api.web` becomes `api-web`.
        let component = kind.name.to_lowercase().replace(['_', '.'], "-");
        let name = format!("{app}-{component}");
        let mut env_from = vec![
            json!({ "configMapRef": { "name": format!("{app}-env") } }),
            json!({ "secretRef": { "name": format!("{app}-secrets") } }),
        ];
        // Its own variables (`env_file`, `env`) in a ConfigMap and Secret of its own, after
        // the shared ones: the last source of a key wins.
        let own: Vec<(String, String)> = with_ports(stack, &kind.env)
            .into_iter()
            .filter(|pair| !shared.contains(pair))
            .collect();
        if !own.is_empty() {
            documents.extend(env_documents(&format!("{name}-"), own, &env_annotations));
            env_from.push(json!({ "configMapRef": { "name": format!("{name}-env") } }));
            env_from.push(json!({ "secretRef": { "name": format!("{name}-secrets") } }));
        }
        let labels = json!({
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/component": component,
        });
        let mut container = json!({
            "name": component,
            "image": image,
            "command": ["/bin/sh", "-c", escape::kubernetes(&container_command(kind))],
            "envFrom": env_from,
            "env": [
                { "name": "PORT", "value": port.to_string() },
                { "name": "PS", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
            ],
        });
        let gate = gate(&kind.policy.ready, port);
        let readiness = match &gate {
            Gate::Probe(probe) => Some(readiness_probe(probe)),
            _ => None,
        };
        let listens = readiness.is_some() || kind.command.contains("PORT");
        if let Some(readiness) = readiness {
            container["readinessProbe"] = readiness;
        }
        if listens {
            container["ports"] = json!([{ "containerPort": port }]);
        }
        let grace = whole_seconds(kind.policy.stop_timeout);
        let own = unexpressed(kind, &gate);
        let mut annotations = annotations.clone();
        if !own.is_empty() {
            annotations["procmux/not-expressible"] = Value::from(own.join("; "));
        }
        notes.extend(Note::about(&kind.name, own));
        if kind.release {
            // Argo CD runs a PreSync hook to its end before it applies the rest, and fails the
            // sync if it fails: the release phase. `kubectl apply` waits for nothing.
            annotations["argocd.argoproj.io/hook"] = Value::from("PreSync");
            annotations["argocd.argoproj.io/hook-delete-policy"] =
                Value::from("BeforeHookCreation");
        }
        if matches!(gate, Gate::Completed) {
            documents.push(json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": { "name": name, "labels": labels, "annotations": annotations },
                "spec": {
                    "template": {
                        "metadata": { "labels": labels },
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "terminationGracePeriodSeconds": grace,
                            "containers": [container],
                        },
                    },
                },
            }));
            continue;
        }
        documents.push(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": name, "labels": labels, "annotations": annotations },
            "spec": {
                "replicas": kind.count,
                "selector": { "matchLabels": labels },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "terminationGracePeriodSeconds": grace,
                        "containers": [container],
                    },
                },
            },
        }));
        if listens {
            documents.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": name, "labels": labels, "annotations": annotations },
                "spec": {
                    "selector": labels,
                    "ports": [{ "port": port, "targetPort": port }],
                },
            }));
        }
    }
    let contents = documents
        .iter()
        .map(|d| format!("---\n{}\n", escape::yaml_json(d)))
        .collect();
    Export {
        files: vec![File {
            path: format!("{app}.yaml").into(),
            contents,
            executable: false,
            secret: true,
        }],
        notes,
    }
}

/// A ConfigMap `PREFIXenv` and a Secret `PREFIXsecrets` holding `env`, the secret-looking
/// keys in the Secret.
fn env_documents(prefix: &str, env: Vec<(String, String)>, annotations: &Value) -> Vec<Value> {
    let mut config = Map::new();
    let mut secret = Map::new();
    for (key, value) in env {
        let target = if secret_looking(&key) {
            &mut secret
        } else {
            &mut config
        };
        target.insert(key, Value::from(value));
    }
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": format!("{prefix}env"), "annotations": annotations },
            "data": config,
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": format!("{prefix}secrets"), "annotations": annotations },
            "type": "Opaque",
            "stringData": secret,
        }),
    ]
}

/// What a workload cannot say of `kind`: a `ready` no probe stands for, `after`, a stop
/// signal.
fn unexpressed(kind: &ProcessType, gate: &Gate) -> Vec<String> {
    let mut notes = Vec::new();
    if let Gate::Unsupported(what) = gate {
        notes.push(what.clone());
    }
    if !kind.after.is_empty() {
        notes.push(format!(
            "after = {:?}: Kubernetes starts workloads independently; readinessProbes gate traffic",
            kind.after
        ));
    }
    if kind.release {
        notes.push(
            "the release phase: a Job Argo CD runs first (a PreSync hook); with kubectl, apply \
             it and `kubectl wait --for=condition=complete` before the rest"
                .to_owned(),
        );
    }
    if kind.policy.stop_signal != nix::sys::signal::Signal::SIGTERM {
        notes.push(format!(
            "stop_signal = {}: Kubernetes stops a container with the image's STOPSIGNAL (SIGTERM unless the image says otherwise)",
            kind.policy.stop_signal.as_str()
        ));
    }
    notes
}

/// Keys that look like credentials go to the Secret.
fn secret_looking(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PRIVATE",
        "CREDENTIAL",
        "API_KEY",
        "_KEY",
        "DSN",
        "AUTH",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// The `readinessProbe` for a probe.
fn readiness_probe(probe: &Probe) -> Value {
    match probe {
        Probe::Tcp(port) => json!({ "tcpSocket": { "port": port } }),
        Probe::Http { port, path } => json!({ "httpGet": { "path": path, "port": port } }),
        // The kubelet expands no `$(VAR)` in a probe's command: the shell expands `$PORT`.
        Probe::Exec(command) => json!({ "exec": { "command": ["/bin/sh", "-c", command] } }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_readiness_is_an_exec_probe() {
        let ready = crate::config::Ready::Exec("redis-cli -p $PORT ping | grep -q PONG".into());
        let Gate::Probe(probe) = super::super::gate(&ready, 6379) else {
            panic!("an exec readiness is a probe");
        };
        assert_eq!(
            readiness_probe(&probe),
            json!({ "exec": { "command": ["/bin/sh", "-c", "redis-cli -p $PORT ping | grep -q PONG"] } })
        );
    }

    #[test]
    fn secret_looking_keys() {
        for key in [
            "DATABASE_PASSWORD",
            "secret_key_base",
            "GITHUB_TOKEN",
            "SENTRY_DSN",
            "STRIPE_API_KEY",
        ] {
            assert!(secret_looking(key), "{key}");
        }
        for key in ["PORT", "RAILS_ENV", "KEYBOARD", "WEB_CONCURRENCY"] {
            assert!(!secret_looking(key), "{key}");
        }
    }
}
