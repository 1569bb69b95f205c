//! Docker Compose: a service per type, `deploy.replicas` its formation, the environment
//! resolved (Compose's `env_file` dialect differs from dotenv) with `$` doubled (Compose
//! interpolates), `init: true` so the whole tree gets signals, `stop_signal`,
//! `stop_grace_period`, `restart`, and `depends_on` with the condition `after` and `ready`
//! mean. Written as JSON, which every YAML reader reads: serde_json does the escaping.

use serde_json::{Map, Value, json};

use super::{File, MARK, Options, restarts, shell_command, whole_seconds};
use crate::config::{Ready, Stack};

pub fn render(stack: &Stack, options: &Options, image: &str) -> File {
    let mut services = Map::new();
    let mut notes = Vec::new();
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let policy = &kind.policy;
        let mut environment = Map::new();
        for (key, value) in stack.env.iter().filter(|(k, _)| k != "PORT" && k != "PS") {
            environment.insert(key.clone(), Value::from(value.replace('$', "$$")));
        }
        let port = stack.first_port(&kind.name);
        environment.insert("PORT".into(), Value::from(port.to_string()));
        environment.insert("PS".into(), Value::from(format!("{}.1", kind.name)));
        let mut service = json!({
            "image": image,
            "command": ["/bin/sh", "-c", shell_command(&kind.command).replace('$', "$$")],
            "environment": environment,
            "init": true,
            "stop_signal": policy.stop_signal.as_str(),
            "stop_grace_period": format!("{}s", whole_seconds(policy.stop_timeout)),
            "restart": match restarts(policy.on_exit) {
                Some(true) => "always",
                Some(false) => "on-failure",
                None => "no",
            },
            "deploy": { "replicas": kind.count },
        });
        if let Some(test) = healthcheck(&policy.ready, port) {
            service["healthcheck"] = json!({ "test": test, "interval": "2s", "retries": 30 });
        }
        let mut depends_on = Map::new();
        for name in &kind.after {
            let Some(dependency) = stack.types.iter().find(|t| &t.name == name) else {
                continue;
            };
            let condition = match dependency.policy.ready {
                Ready::ExitZero => "service_completed_successfully",
                Ready::Tcp(_) | Ready::Http(_) | Ready::Exec(_) => "service_healthy",
                _ => "service_started",
            };
            depends_on.insert(name.clone(), json!({ "condition": condition }));
        }
        if !depends_on.is_empty() {
            service["depends_on"] = Value::Object(depends_on);
        }
        if kind.count > 1 {
            notes.push(format!(
                "{}: PS is {}.1 in every replica (Compose gives replicas no number)",
                kind.name, kind.name
            ));
        }
        services.insert(kind.name.clone(), service);
    }
    let mut document = json!({
        "x-procmux": {
            "generated": MARK,
            "app": options.app,
            "not expressible": notes,
        },
        "services": services,
    });
    if notes_empty(&document) {
        document["x-procmux"]
            .as_object_mut()
            .map(|o| o.remove("not expressible"));
    }
    File {
        path: "compose.yaml".into(),
        contents: format!(
            "{}\n",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ),
        executable: false,
    }
}

fn notes_empty(document: &Value) -> bool {
    document["x-procmux"]["not expressible"]
        .as_array()
        .is_none_or(Vec::is_empty)
}

/// The health check `ready` stands for, for images with a shell (`tcp:` via bash's
/// `/dev/tcp`, `http:` via wget, `exec:` as written).
fn healthcheck(ready: &Ready, port: u16) -> Option<Value> {
    match ready {
        Ready::Tcp(p) => Some(json!([
            "CMD-SHELL",
            format!("bash -c 'echo > /dev/tcp/127.0.0.1/{}'", p.unwrap_or(port))
        ])),
        Ready::Http(probe) => Some(json!([
            "CMD-SHELL",
            format!(
                "wget -q -O /dev/null http://127.0.0.1:{}{}",
                probe.port.unwrap_or(port),
                probe.path
            )
            .replace('$', "$$")
        ])),
        // Run by the container's /bin/sh, as procmux runs it; `$` doubled for Compose.
        Ready::Exec(command) => Some(json!(["CMD-SHELL", command.replace('$', "$$")])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_readiness_is_a_shell_healthcheck() {
        let ready = Ready::Exec("pg_isready -h 127.0.0.1 -p $PORT".to_owned());
        assert_eq!(
            healthcheck(&ready, 5000),
            Some(json!(["CMD-SHELL", "pg_isready -h 127.0.0.1 -p $$PORT"]))
        );
    }
}
