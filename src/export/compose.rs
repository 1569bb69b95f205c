//! Docker Compose: a service per type, `deploy.replicas` its formation, the environment
//! resolved (Compose's `env_file` dialect differs from dotenv), `init: true` so the whole tree
//! gets signals, `stop_signal`, `stop_grace_period`, `restart`, and `depends_on` with the
//! condition `after` and `ready` mean. Every string has its `$` doubled (Compose
//! interpolates everywhere); a health check's command is quoted for the shell that runs it.
//! Written as JSON, which every YAML reader reads ([`escape::yaml_json`]).

use serde_json::{Map, Value, json};

use super::{
    Export, File, Gate, MARK, Note, Options, Probe, container_command, escape, gate,
    loopback_notes, restarts, whole_seconds, with_ports,
};
use crate::config::Stack;

pub fn render(stack: &Stack, options: &Options, image: &str) -> Export {
    let mut services = Map::new();
    let mut notes = loopback_notes(stack);
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let policy = &kind.policy;
        let mut environment = Map::new();
        for (key, value) in with_ports(stack, &kind.env) {
            environment.insert(key, Value::from(value));
        }
        let port = stack.first_port(&kind.name);
        environment.insert("PORT".into(), Value::from(port.to_string()));
        environment.insert("PS".into(), Value::from(format!("{}.1", kind.name)));
        let mut service = json!({
            "image": image,
            "command": ["/bin/sh", "-c", container_command(kind)],
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
        match gate(&policy.ready, port) {
            Gate::Probe(probe) => {
                service["healthcheck"] =
                    json!({ "test": healthcheck(&probe), "interval": "2s", "retries": 30 });
            }
            Gate::Unsupported(what) => notes.push(Note {
                name: kind.name.clone(),
                text: what,
                warning: false,
            }),
            Gate::Started | Gate::Completed => {}
        }
        let mut depends_on = Map::new();
        for name in &kind.after {
            let Some(dependency) = stack.types.iter().find(|t| &t.name == name) else {
                continue;
            };
            let condition = match gate(&dependency.policy.ready, stack.first_port(name)) {
                Gate::Completed => "service_completed_successfully",
                Gate::Probe(_) => "service_healthy",
                Gate::Started | Gate::Unsupported(_) => "service_started",
            };
            depends_on.insert(name.clone(), json!({ "condition": condition }));
        }
        if !depends_on.is_empty() {
            service["depends_on"] = Value::Object(depends_on);
        }
        if kind.count > 1 {
            notes.push(Note {
                name: kind.name.clone(),
                text: format!(
                    "PS is {}.1 in every replica (Compose gives replicas no number)",
                    kind.name
                ),
                warning: false,
            });
        }
        services.insert(kind.name.clone(), service);
    }
    let mut procmux = json!({ "generated": MARK, "app": options.app });
    for (key, warning) in [("not expressible", false), ("warnings", true)] {
        let said: Vec<String> = notes
            .iter()
            .filter(|n| n.warning == warning)
            .map(|n| n.to_string())
            .collect();
        if !said.is_empty() {
            procmux[key] = said.into();
        }
    }
    let mut document = json!({ "x-procmux": procmux, "services": services });
    double_dollars(&mut document);
    Export {
        files: vec![File {
            path: "compose.yaml".into(),
            contents: format!("{}\n", escape::yaml_json(&document)),
            executable: false,
            secret: true,
        }],
        notes,
    }
}

/// `$` → `$$` in every string of the document (Compose interpolates values, not keys).
fn double_dollars(value: &mut Value) {
    match value {
        Value::String(text) => *text = escape::compose(text),
        Value::Array(items) => items.iter_mut().for_each(double_dollars),
        Value::Object(map) => map.values_mut().for_each(double_dollars),
        _ => {}
    }
}

/// The health check for a probe, for images with a shell (`tcp` via bash's `/dev/tcp`,
/// `http` via wget): `CMD-SHELL` runs it with `/bin/sh -c`, so the URL is one quoted word.
fn healthcheck(probe: &Probe) -> Value {
    let line = match probe {
        Probe::Tcp(port) => format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}'"),
        Probe::Http { port, path } => format!(
            "wget -q -O /dev/null {}",
            escape::sh_quote(&format!("http://127.0.0.1:{port}{path}"))
        ),
        // Run by the container's /bin/sh, as procmux runs it (`$` is doubled with the rest).
        Probe::Exec(command) => command.clone(),
    };
    json!(["CMD-SHELL", line])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_readiness_is_a_shell_healthcheck() {
        let probe = Probe::Exec("pg_isready -h 127.0.0.1 -p $PORT".to_owned());
        let mut check = healthcheck(&probe);
        double_dollars(&mut check);
        assert_eq!(
            check,
            json!(["CMD-SHELL", "pg_isready -h 127.0.0.1 -p $$PORT"])
        );
    }
}
