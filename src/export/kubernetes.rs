//! Kubernetes: a Deployment per type (`replicas` its formation, `app.kubernetes.io/name` and
//! `component` labels, the selector its template's labels), a Job for a one-shot
//! (`ready = "exit:0"`), a Service for a type that listens, the environment in a ConfigMap and
//! the secret-looking keys in a Secret, `terminationGracePeriodSeconds`, and a
//! `readinessProbe` from `ready`. One YAML stream of JSON documents (every YAML reader reads
//! JSON; serde_json does the escaping).

use serde_json::{Map, Value, json};

use super::{File, MARK, Options, shell_command, whole_seconds};
use crate::config::{Ready, Stack};

pub fn render(stack: &Stack, options: &Options, image: &str) -> File {
    let app = options.app.to_lowercase().replace(['_', '.'], "-");
    let annotations = json!({ "procmux/generated": MARK });
    let mut config = Map::new();
    let mut secret = Map::new();
    for (key, value) in stack.env.iter().filter(|(k, _)| k != "PORT" && k != "PS") {
        let target = if secret_looking(key) {
            &mut secret
        } else {
            &mut config
        };
        target.insert(key.clone(), Value::from(value.clone()));
    }
    let mut documents = vec![
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": format!("{app}-env"), "annotations": annotations },
            "data": config,
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": format!("{app}-secrets"), "annotations": annotations },
            "type": "Opaque",
            "stringData": secret,
        }),
    ];
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let port = stack.first_port(&kind.name);
        let name = format!("{app}-{}", kind.name.to_lowercase().replace('_', "-"));
        let labels = json!({
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/component": kind.name.to_lowercase().replace('_', "-"),
        });
        let mut container = json!({
            "name": kind.name.to_lowercase().replace('_', "-"),
            "image": image,
            "command": ["/bin/sh", "-c", shell_command(&kind.command)],
            "envFrom": [
                { "configMapRef": { "name": format!("{app}-env") } },
                { "secretRef": { "name": format!("{app}-secrets") } },
            ],
            "env": [
                { "name": "PORT", "value": port.to_string() },
                { "name": "PS", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
            ],
        });
        let listens = probe(&kind.policy.ready, port).or_else(|| {
            kind.command
                .contains("PORT")
                .then(|| json!({ "tcpSocket": { "port": port } }))
        });
        if let Some(readiness) = probe(&kind.policy.ready, port) {
            container["readinessProbe"] = readiness;
        }
        if listens.is_some() {
            container["ports"] = json!([{ "containerPort": port }]);
        }
        let grace = whole_seconds(kind.policy.stop_timeout);
        let mut annotations = annotations.clone();
        if !kind.after.is_empty() {
            annotations["procmux/not-expressible"] = Value::from(format!(
                "after = {:?}: Kubernetes starts workloads independently; readinessProbes gate traffic",
                kind.after
            ));
        }
        if matches!(kind.policy.ready, Ready::ExitZero) {
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
        if listens.is_some() {
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
        .map(|d| {
            format!(
                "---\n{}\n",
                serde_json::to_string_pretty(d).unwrap_or_default()
            )
        })
        .collect();
    File {
        path: format!("{app}.yaml").into(),
        contents,
        executable: false,
    }
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

fn probe(ready: &Ready, port: u16) -> Option<Value> {
    match ready {
        Ready::Tcp(p) => Some(json!({ "tcpSocket": { "port": p.unwrap_or(port) } })),
        Ready::Http(probe) => Some(json!({
            "httpGet": { "path": probe.path, "port": probe.port.unwrap_or(port) }
        })),
        // The kubelet expands no `$(VAR)` in a probe's command: the shell expands `$PORT`.
        Ready::Exec(command) => Some(json!({ "exec": { "command": ["/bin/sh", "-c", command] } })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_readiness_is_an_exec_probe() {
        let ready = Ready::Exec("redis-cli -p $PORT ping | grep -q PONG".to_owned());
        assert_eq!(
            probe(&ready, 6379),
            Some(
                json!({ "exec": { "command": ["/bin/sh", "-c", "redis-cli -p $PORT ping | grep -q PONG"] } })
            )
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
