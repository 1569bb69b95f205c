//! Unit tests of the supervisor: a fake clock, the actions standing in for a fake spawner.
use super::*;
use crate::config::Policy;
use crate::config::SignalSource;
use crate::config::policy::Backoff;
use Signal::*;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Instances with these policies, each waiting for the instances listed with it.
fn stack_after(instances: Vec<(Policy, Vec<usize>)>) -> Supervisor {
    let instances = instances
        .into_iter()
        .map(|(policy, after)| Instance::new(policy, after))
        .collect();
    Supervisor::with_instances(instances, None)
}

fn stack(policies: Vec<Policy>) -> Supervisor {
    stack_after(policies.into_iter().map(|p| (p, Vec::new())).collect())
}

fn foreman(n: usize) -> Supervisor {
    stack(vec![Policy::foreman(TIMEOUT); n])
}

/// Starts every instance the supervisor asks for, at `t`.
fn run_all(s: &mut Supervisor, t: Instant) -> Vec<Action> {
    let mut pending = s.start();
    let mut done = Vec::new();
    while let Some(action) = pending.pop() {
        if let Action::Spawn(i) = action {
            pending.extend(s.on_spawned(i, t));
        }
        done.push(action);
    }
    done
}

fn notices(actions: &[Action]) -> Vec<Notice> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(notice) => Some(notice.clone()),
            _ => None,
        })
        .collect()
}

/// A policy with `stop_signal` set in procmux.toml.
fn own_signal(signal: Signal) -> Policy {
    Policy {
        stop_signal: signal,
        stop_signal_from: SignalSource::Configured,
        ..Policy::foreman(TIMEOUT)
    }
}

fn restarting(on_exit: OnExit) -> Policy {
    Policy {
        on_exit,
        ..Policy::foreman(TIMEOUT)
    }
}

#[test]
fn first_exit_stops_everything_with_its_code() {
    let t0 = Instant::now();
    let mut s = foreman(2);
    run_all(&mut s, t0);
    let actions = s.on_exit(0, Exit::Code(3), t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::ShuttingDown {
                given: SIGTERM,
                signals: vec![(1, SIGTERM)]
            }),
            Action::Stop(0, SIGTERM),
            // Its main process is gone already: what it left outside its group, at once.
            Action::StopEscaped(0, SIGTERM),
            Action::Stop(1, SIGTERM),
        ]
    );
    assert!(s.is_stopping());
    // The other's main process exits: what it left outside its group is next.
    assert_eq!(
        s.on_exit(1, Exit::Code(0), t0),
        [Action::StopEscaped(1, SIGTERM)]
    );
    assert_eq!(s.exit_code(), 3);
    // What started the shutdown is kept (start -D says it): the first exit, not the later.
    assert_eq!(s.cause(), Some((0, Some(Exit::Code(3)))));
}

#[test]
fn a_shutdown_asked_for_has_no_cause() {
    let t0 = Instant::now();
    let mut s = foreman(1);
    run_all(&mut s, t0);
    s.on_signal(SIGTERM, t0);
    s.on_exit(0, Exit::Signal(SIGTERM), t0);
    assert_eq!(s.cause(), None);
}

#[test]
fn signal_death_is_128_plus_n() {
    let mut s = foreman(1);
    run_all(&mut s, Instant::now());
    s.on_exit(0, Exit::Signal(SIGKILL), Instant::now());
    assert_eq!(s.exit_code(), 137);
}

#[test]
fn stop_timeout_then_kill_sweeps_then_give_up() {
    let t0 = Instant::now();
    let mut s = foreman(1);
    run_all(&mut s, t0);
    let actions = s.on_signal(SIGINT, t0);
    assert_eq!(
        notices(&actions),
        [
            Notice::SignalReceived { signal: SIGINT },
            Notice::ShuttingDown {
                given: SIGINT,
                signals: vec![(0, SIGINT)]
            }
        ]
    );
    assert_eq!(s.exit_code(), 130);
    assert_eq!(s.on_tick(t0 + TIMEOUT - Duration::from_millis(1)), []);
    let t1 = t0 + TIMEOUT;
    assert_eq!(
        s.on_tick(t1),
        [Action::KillGroup(0), Action::TerminateStrays]
    );
    // Strays (of unknown origin) get the longest stop timeout, then SIGKILL.
    let t2 = t1 + TIMEOUT;
    assert_eq!(s.deadline(), Some(t2));
    assert_eq!(s.on_tick(t2), [Action::Kill]);
    assert_eq!(s.deadline(), Some(t2 + KILL_SWEEP));
    assert_eq!(s.on_tick(t2 + KILL_SWEEP), [Action::KillRemaining]);
    assert!(!s.is_abandoned());
    assert_eq!(
        notices(&s.on_tick(t2 + KILL_WAIT)),
        [Notice::Abandoned { after: KILL_WAIT }]
    );
    assert!(s.is_abandoned());
}

#[test]
fn gone_groups_end_the_stop_phase_early() {
    let t0 = Instant::now();
    let mut s = foreman(2);
    run_all(&mut s, t0);
    s.on_signal(SIGTERM, t0);
    assert_eq!(s.signalled().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(s.on_group_gone(0, t0), []);
    assert_eq!(s.on_group_gone(1, t0), [Action::TerminateStrays]);
}

#[test]
fn second_interrupt_kills_at_once_and_hup_does_not() {
    let t0 = Instant::now();
    let mut s = foreman(1);
    run_all(&mut s, t0);
    s.on_signal(SIGTERM, t0);
    assert_eq!(s.exit_code(), 143);
    assert_eq!(s.on_signal(SIGHUP, t0), []);
    let actions = s.on_signal(SIGINT, t0);
    assert_eq!(notices(&actions), [Notice::SignalAgain { signal: SIGINT }]);
    assert!(actions.contains(&Action::Kill));
    assert_eq!(s.on_signal(SIGINT, t0), []);
}

#[test]
fn usr_signals_are_forwarded_and_closed_output_stops_quietly() {
    let t0 = Instant::now();
    let mut s = foreman(1);
    run_all(&mut s, t0);
    assert_eq!(s.on_signal(SIGUSR1, t0), [Action::Forward(SIGUSR1)]);
    let actions = s.on_output_closed(0, t0);
    assert_eq!(notices(&actions), []);
    assert!(actions.contains(&Action::Stop(0, SIGTERM)));
    assert_eq!(s.exit_code(), 0);
}

fn restart_notice(delay: u64, attempt: usize) -> Notice {
    Notice::Restarting {
        instance: 0,
        exit: Exit::Code(1),
        delay: Duration::from_secs(delay),
        attempt,
        max_attempts: 5,
    }
}

#[test]
fn restarts_back_off_exponentially_up_to_the_max() {
    let t0 = Instant::now();
    let mut s = stack(vec![restarting(OnExit::Restart)]);
    run_all(&mut s, t0);
    let mut t = t0;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let actions = s.on_exit(0, Exit::Code(1), t);
        seen.extend(notices(&actions));
        let until = s.deadline().unwrap();
        assert_eq!(s.on_tick(until - Duration::from_millis(1)), []);
        assert_eq!(s.on_tick(until), [Action::Spawn(0)]);
        s.on_spawned(0, until);
        t = until;
    }
    let expected: Vec<Notice> = [(1, 1), (2, 2), (4, 3), (8, 4), (16, 5)]
        .iter()
        .map(|&(delay, attempt)| restart_notice(delay, attempt))
        .collect();
    assert_eq!(seen, expected);
    // A sixth exit within the window gives up, and by default stops the stack.
    let actions = s.on_exit(0, Exit::Code(1), t);
    assert_eq!(
        notices(&actions)[0],
        Notice::GaveUp {
            instance: 0,
            exit: Exit::Code(1),
            restarts: 5,
            window: Duration::from_secs(60)
        }
    );
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), 1);
}

#[test]
fn a_stable_run_resets_the_delay_and_the_window_forgets_old_restarts() {
    let t0 = Instant::now();
    let backoff = Backoff {
        max: Duration::from_secs(3),
        ..Backoff::default()
    };
    let mut s = stack(vec![Policy {
        backoff,
        ..restarting(OnExit::Restart)
    }]);
    run_all(&mut s, t0);
    s.on_exit(0, Exit::Code(1), t0);
    s.on_spawned(0, t0 + Duration::from_secs(1));
    s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(1));
    s.on_spawned(0, t0 + Duration::from_secs(3));
    let actions = s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(3));
    assert_eq!(notices(&actions), [restart_notice(3, 3)], "capped at max");
    // Ran 20 s: stable, so the delay starts over; 100 s later the window is empty again.
    s.on_spawned(0, t0 + Duration::from_secs(100));
    let actions = s.on_exit(0, Exit::Code(1), t0 + Duration::from_secs(120));
    assert_eq!(notices(&actions), [restart_notice(1, 1)]);
}

#[test]
fn may_exit_and_restart_on_failure() {
    let t0 = Instant::now();
    let mut s = stack(vec![
        restarting(OnExit::Ignore),
        restarting(OnExit::RestartOnFailure),
        Policy::foreman(TIMEOUT),
    ]);
    run_all(&mut s, t0);
    let actions = s.on_exit(0, Exit::Code(0), t0);
    assert_eq!(
        notices(&actions),
        [Notice::MayExit {
            instance: 0,
            exit: Exit::Code(0)
        }]
    );
    let actions = s.on_exit(1, Exit::Code(0), t0);
    assert!(matches!(
        notices(&actions)[0],
        Notice::MayExit { instance: 1, .. }
    ));
    assert!(!s.is_stopping());
    s.on_spawned(1, t0);
    let actions = s.on_exit(1, Exit::Signal(SIGSEGV), t0);
    assert!(matches!(
        notices(&actions)[0],
        Notice::Restarting {
            instance: 1,
            exit: Exit::Signal(SIGSEGV),
            ..
        }
    ));
    assert!(!s.is_stopping());
}

#[test]
fn give_up_can_leave_the_process_dead() {
    let t0 = Instant::now();
    let backoff = Backoff {
        max_restarts: 0,
        ..Backoff::default()
    };
    let policy = Policy {
        backoff,
        on_give_up: OnGiveUp::Leave,
        ..restarting(OnExit::Restart)
    };
    let mut s = stack(vec![policy, Policy::foreman(TIMEOUT)]);
    run_all(&mut s, t0);
    let actions = s.on_exit(0, Exit::Code(2), t0);
    assert!(matches!(
        notices(&actions)[..],
        [Notice::GaveUp { restarts: 0, .. }]
    ));
    assert!(!s.is_stopping());
}

#[test]
fn exit_code_from_decides_and_stops() {
    let t0 = Instant::now();
    let instances = vec![
        Instance::new(restarting(OnExit::Ignore), Vec::new()),
        Instance::new(restarting(OnExit::Ignore), Vec::new()),
    ];
    let mut s = Supervisor::with_instances(instances, Some(0));
    run_all(&mut s, t0);
    s.on_exit(1, Exit::Code(0), t0);
    assert!(!s.is_stopping());
    s.on_exit(0, Exit::Code(4), t0);
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), 4);
}

#[test]
fn after_waits_for_readiness_of_every_dependency() {
    let t0 = Instant::now();
    let db = Policy {
        ready: Ready::Tcp(None),
        ..Policy::foreman(TIMEOUT)
    };
    let migrate = Policy {
        ready: Ready::ExitZero,
        ..Policy::foreman(TIMEOUT)
    };
    let web = Policy::foreman(TIMEOUT);
    let mut s = stack_after(vec![(db, vec![]), (migrate, vec![0]), (web, vec![0, 1])]);
    assert_eq!(s.start(), [Action::Spawn(0)]);
    assert_eq!(s.on_spawned(0, t0), []);
    assert!(s.awaits_report(0));
    let actions = s.on_ready(0, t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::Ready { instance: 0 }),
            Action::Spawn(1)
        ]
    );
    assert_eq!(s.on_spawned(1, t0), []);
    // The migration exits 0: it is ready, nothing stops, web starts.
    let actions = s.on_exit(1, Exit::Code(0), t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::Ready { instance: 1 }),
            Action::Spawn(2)
        ]
    );
    assert!(!s.is_stopping());
}

#[test]
fn a_failed_one_shot_stops_the_stack() {
    let t0 = Instant::now();
    let migrate = Policy {
        ready: Ready::ExitZero,
        ..Policy::foreman(TIMEOUT)
    };
    let mut s = stack_after(vec![(migrate, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    run_all(&mut s, t0);
    s.on_exit(0, Exit::Code(1), t0);
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), 1);
}

#[test]
fn delay_readiness_and_ready_timeout() {
    let t0 = Instant::now();
    let delayed = Policy {
        ready: Ready::Delay(Duration::from_secs(2)),
        ..Policy::foreman(TIMEOUT)
    };
    let mut s = stack_after(vec![(delayed, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    run_all(&mut s, t0);
    assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(2)));
    let actions = s.on_tick(t0 + Duration::from_secs(2));
    assert!(actions.contains(&Action::Spawn(1)));

    let slow = Policy {
        ready: Ready::Tcp(None),
        ready_timeout: Duration::from_secs(3),
        ..Policy::foreman(TIMEOUT)
    };
    let mut s = stack(vec![slow]);
    run_all(&mut s, t0);
    assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(3)));
    // Output held for 5 s (a paused terminal): the clock stops with it.
    s.hold_readiness(Duration::from_secs(5));
    assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(8)));
    assert_eq!(s.on_tick(t0 + Duration::from_secs(3)), []);
    let actions = s.on_tick(t0 + Duration::from_secs(8));
    assert_eq!(
        notices(&actions)[0],
        Notice::NotReady {
            instance: 0,
            timeout: Duration::from_secs(3)
        }
    );
    assert_eq!(s.exit_code(), NOT_READY_CODE);
}

#[test]
fn shutdown_stops_dependants_first() {
    let t0 = Instant::now();
    let db = || Policy {
        ..own_signal(SIGINT)
    };
    let web = || Policy {
        stop_timeout: Duration::from_secs(2),
        ..Policy::foreman(TIMEOUT)
    };
    let mut s = stack_after(vec![(db(), vec![]), (web(), vec![0])]);
    run_all(&mut s, t0);
    let actions = s.on_signal(SIGTERM, t0);
    assert!(actions.contains(&Action::Stop(1, SIGTERM)));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Stop(0, _))),
        "db before web: {actions:?}"
    );
    // web's group is gone: db gets its own stop signal.
    assert_eq!(s.on_group_gone(1, t0), [Action::Stop(0, SIGINT)]);

    // Or web outlives its stop timeout: killed, then db.
    let mut s = stack_after(vec![(db(), vec![]), (web(), vec![0])]);
    run_all(&mut s, t0);
    s.on_signal(SIGTERM, t0);
    let actions = s.on_tick(t0 + Duration::from_secs(2));
    assert_eq!(actions, [Action::KillGroup(1), Action::Stop(0, SIGINT)]);
}

#[test]
fn a_dependency_that_exits_before_it_is_ready_stops_the_stack() {
    let t0 = Instant::now();
    let db = Policy {
        ready: Ready::Tcp(None),
        ..restarting(OnExit::Ignore)
    };
    let mut s = stack_after(vec![(db, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    run_all(&mut s, t0);
    let actions = s.on_exit(0, Exit::Code(0), t0);
    assert_eq!(
        notices(&actions)[0],
        Notice::ExitedBeforeReady {
            instance: 0,
            exit: Exit::Code(0)
        }
    );
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), NOT_READY_CODE);
}

#[test]
fn a_dependency_left_dead_before_it_was_ready_stops_the_stack() {
    let t0 = Instant::now();
    let backoff = Backoff {
        max_restarts: 0,
        ..Backoff::default()
    };
    let db = Policy {
        ready: Ready::Tcp(None),
        backoff,
        on_give_up: OnGiveUp::Leave,
        ..restarting(OnExit::Restart)
    };
    let mut s = stack_after(vec![(db, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    run_all(&mut s, t0);
    let actions = s.on_exit(0, Exit::Code(2), t0);
    assert_eq!(notices(&actions)[1], Notice::WillNotBeReady { instance: 0 });
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), 2);
}

#[test]
fn idle_when_every_process_may_exit_and_did() {
    let t0 = Instant::now();
    let mut s = stack(vec![restarting(OnExit::Ignore), restarting(OnExit::Ignore)]);
    run_all(&mut s, t0);
    s.on_exit(0, Exit::Code(0), t0);
    assert!(!s.is_idle());
    s.on_exit(1, Exit::Code(0), t0);
    assert!(s.is_idle());
    let actions = s.finish(t0);
    assert!(s.is_stopping() && actions.contains(&Action::Stop(0, SIGTERM)));
    s.on_group_gone(0, t0);
    assert_eq!(s.on_group_gone(1, t0), [Action::TerminateStrays]);
    assert_eq!(s.exit_code(), 0);
}

/// Stop one instance of three and restart another: neither exit counts as a crash (the
/// default policy would stop the stack), the stack keeps running, its exit code is
/// untouched, and no restart budget is used.
#[test]
fn a_stop_or_restart_asked_for_is_not_a_crash() {
    let t0 = Instant::now();
    let quick = Policy {
        stop_timeout: Duration::from_secs(2),
        ..own_signal(SIGINT)
    };
    let mut s = stack(vec![
        quick,
        Policy::foreman(TIMEOUT),
        Policy::foreman(TIMEOUT),
    ]);
    run_all(&mut s, t0);

    // web.1 is stopped: its own stop signal, then its exit, then its group empties.
    let actions = s.stop(0, t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::Stopping {
                instance: 0,
                signal: SIGINT
            }),
            Action::Stop(0, SIGINT)
        ]
    );
    assert_eq!(s.signalled().collect::<Vec<_>>(), [0]);
    assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(2)));
    assert_eq!(
        s.on_exit(0, Exit::Signal(SIGINT), t0),
        [Action::StopEscaped(0, SIGINT)]
    );
    assert_eq!(
        s.on_group_gone(0, t0),
        [Action::Notify(Notice::Stopped { instance: 0 })]
    );
    assert!(!s.is_stopping() && !s.is_idle());

    // The second is restarted: stopped, then started again once its group is empty.
    let t1 = t0 + Duration::from_secs(1);
    assert!(s.restart(1, t1).contains(&Action::Stop(1, SIGTERM)));
    assert_eq!(
        s.on_exit(1, Exit::Signal(SIGTERM), t1),
        [Action::StopEscaped(1, SIGTERM)]
    );
    assert_eq!(s.on_group_gone(1, t1), [Action::Spawn(1)]);
    assert_eq!(s.on_spawned(1, t1), []);
    assert!(!s.is_stopping());

    // A restart of the stopped one starts it at once; one that outlives its stop
    // timeout is killed, then started.
    assert_eq!(s.restart(0, t1), [Action::Spawn(0)]);
    s.on_spawned(0, t1);
    s.restart(2, t1);
    assert_eq!(
        s.on_tick(t1 + TIMEOUT),
        [Action::KillGroup(2), Action::Spawn(2)]
    );
    assert!(!s.is_stopping());
    assert_eq!(s.signalled().count(), 0);

    // The stack still stops as usual, with the code of what stopped it.
    s.on_spawned(2, t1 + TIMEOUT);
    s.on_exit(2, Exit::Code(7), t1 + TIMEOUT);
    assert!(s.is_stopping());
    assert_eq!(s.exit_code(), 7);
}

/// `procmux restart db web`: web (which waits for db) is stopped first, db once web is
/// gone; db starts first, web once db is ready again.
/// web (1) was signalled and db (0) waits for it: web's exit lets db be stopped, web does
/// not start before db is back, and db's readiness (not its start) starts web.
fn web_then_db_come_back(s: &mut Supervisor, t0: Instant) {
    s.on_exit(1, Exit::Signal(SIGTERM), t0);
    let actions = s.on_group_gone(1, t0);
    assert!(actions.contains(&Action::Stop(0, SIGTERM)), "{actions:?}");
    assert!(!actions.contains(&Action::Spawn(1)), "{actions:?}");
    s.on_exit(0, Exit::Signal(SIGTERM), t0);
    assert_eq!(s.on_group_gone(0, t0), [Action::Spawn(0)]);
    assert_eq!(s.on_spawned(0, t0), []);
    let actions = s.on_ready(0, t0);
    assert!(actions.contains(&Action::Spawn(1)), "{actions:?}");
}

#[test]
fn a_restart_of_a_dependency_and_its_dependant_goes_in_order() {
    let t0 = Instant::now();
    let db = Policy {
        ready: Ready::Tcp(None),
        ..Policy::foreman(TIMEOUT)
    };
    let mut s = stack_after(vec![(db, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    s.start();
    s.on_spawned(0, t0);
    s.on_ready(0, t0);
    s.on_spawned(1, t0);
    let mut actions = Vec::new();
    for i in s.stop_order(&[0, 1]) {
        actions.extend(s.restart(i, t0));
    }
    assert!(actions.contains(&Action::Stop(1, SIGTERM)));
    assert!(
        !actions.contains(&Action::Stop(0, SIGTERM)),
        "db waits: {actions:?}"
    );
    web_then_db_come_back(&mut s, t0);
    assert!(!s.is_stopping());
}

#[test]
fn a_shutdown_takes_over_a_stop_under_way() {
    let t0 = Instant::now();
    let mut s = foreman(2);
    run_all(&mut s, t0);
    s.stop(0, t0);
    let actions = s.on_signal(SIGTERM, t0);
    assert!(actions.contains(&Action::Stop(1, SIGTERM)));
    assert!(
        !actions.contains(&Action::Stop(0, SIGTERM)),
        "signalled once"
    );
    assert_eq!(s.on_group_gone(0, t0), []);
    assert_eq!(s.on_group_gone(1, t0), [Action::TerminateStrays]);
    assert_eq!(s.exit_code(), 143);
}

/// A plain process, one with its own stop signal, and PostgreSQL (known: SIGINT).
fn mixed_signals() -> Supervisor {
    let postgres = crate::config::servers::known_server("postgres -D data");
    let known = Policy {
        stop_signal: SIGINT,
        stop_signal_from: SignalSource::Known(postgres.unwrap()),
        ..Policy::foreman(TIMEOUT)
    };
    stack(vec![Policy::foreman(TIMEOUT), own_signal(SIGQUIT), known])
}

#[test]
fn ctrl_c_stops_with_sigint_and_a_process_s_own_signal_wins() {
    let t0 = Instant::now();
    let mut s = mixed_signals();
    run_all(&mut s, t0);
    let actions = s.on_signal(SIGINT, t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::SignalReceived { signal: SIGINT }),
            Action::Notify(Notice::ShuttingDown {
                given: SIGINT,
                signals: vec![(0, SIGINT), (1, SIGQUIT), (2, SIGINT)]
            }),
            Action::Stop(0, SIGINT),
            Action::Stop(1, SIGQUIT),
            Action::Stop(2, SIGINT),
        ]
    );
    // A shell's background jobs ignore SIGINT: what the plain process left gets SIGTERM.
    assert_eq!(
        s.on_exit(0, Exit::Signal(SIGINT), t0),
        [Action::Stop(0, SIGTERM), Action::StopEscaped(0, SIGTERM)]
    );
    // Those with a signal of their own get theirs again.
    assert_eq!(
        s.on_exit(1, Exit::Code(0), t0),
        [Action::StopEscaped(1, SIGQUIT)]
    );
    assert_eq!(
        s.on_exit(2, Exit::Code(0), t0),
        [Action::StopEscaped(2, SIGINT)]
    );
    assert_eq!(s.exit_code(), 130);
}

#[test]
fn sigterm_sighup_and_procmux_stop_stop_with_sigterm_unless_a_process_says_otherwise() {
    let t0 = Instant::now();
    for signal in [SIGTERM, SIGHUP] {
        let mut s = mixed_signals();
        run_all(&mut s, t0);
        let actions = s.on_signal(signal, t0);
        assert_eq!(
            actions[1..],
            [
                Action::Notify(Notice::ShuttingDown {
                    given: SIGTERM,
                    signals: vec![(0, SIGTERM), (1, SIGQUIT), (2, SIGINT)]
                }),
                Action::Stop(0, SIGTERM),
                Action::Stop(1, SIGQUIT),
                Action::Stop(2, SIGINT),
            ]
        );
        assert_eq!(
            s.on_exit(0, Exit::Signal(SIGTERM), t0),
            [Action::StopEscaped(0, SIGTERM)]
        );
    }
    let mut s = mixed_signals();
    run_all(&mut s, t0);
    let actions = s.stop_all(t0);
    assert!(actions.contains(&Action::Stop(0, SIGTERM)), "{actions:?}");
    assert!(actions.contains(&Action::Stop(2, SIGINT)), "{actions:?}");
    // A process that exits starts the shutdown with SIGTERM.
    let mut s = mixed_signals();
    run_all(&mut s, t0);
    let actions = s.on_exit(1, Exit::Code(1), t0);
    assert!(actions.contains(&Action::Stop(0, SIGTERM)), "{actions:?}");
    assert!(actions.contains(&Action::Stop(2, SIGINT)), "{actions:?}");
}

#[test]
fn a_stop_or_restart_asked_for_sends_sigterm_or_the_process_s_own() {
    let t0 = Instant::now();
    let mut s = mixed_signals();
    run_all(&mut s, t0);
    assert!(s.stop(0, t0).contains(&Action::Stop(0, SIGTERM)));
    assert!(s.restart(1, t0).contains(&Action::Stop(1, SIGQUIT)));
    assert!(s.restart(2, t0).contains(&Action::Stop(2, SIGINT)));
    // Ctrl-C during a stop asked for: what is under way keeps its signal.
    let actions = s.on_signal(SIGINT, t0);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Stop(..))),
        "{actions:?}"
    );
    assert_eq!(
        s.on_exit(0, Exit::Signal(SIGTERM), t0),
        [Action::Stop(0, SIGTERM), Action::StopEscaped(0, SIGTERM)]
    );
}

#[test]
fn after_ctrl_c_a_process_already_gone_has_its_leftovers_sent_sigterm() {
    let t0 = Instant::now();
    let mut s = stack(vec![restarting(OnExit::Restart), Policy::foreman(TIMEOUT)]);
    run_all(&mut s, t0);
    s.on_exit(0, Exit::Code(1), t0);
    let actions = s.on_signal(SIGINT, t0);
    assert!(
        actions.ends_with(&[
            Action::Stop(0, SIGTERM),
            Action::StopEscaped(0, SIGTERM),
            Action::Stop(1, SIGINT),
        ]),
        "{actions:?}"
    );
}

/// db (ready on its port, `on_exit` as given) and web following it (`restart_with`, so
/// also after it), both running.
fn db_and_follower(on_exit: OnExit) -> Supervisor {
    let db = Policy {
        ready: Ready::Tcp(None),
        ..restarting(on_exit)
    };
    let mut s = stack_after(vec![(db, vec![]), (Policy::foreman(TIMEOUT), vec![0])]);
    s.instances[1].follows = vec![0];
    let t0 = Instant::now();
    s.start();
    s.on_spawned(0, t0);
    s.on_ready(0, t0);
    s.on_spawned(1, t0);
    s
}

#[test]
fn a_follower_is_stopped_first_and_starts_once_its_leader_is_ready_again() {
    let t0 = Instant::now();
    let mut s = db_and_follower(OnExit::StopAll);
    // `procmux restart db` (or a watched file): web goes first, db waits for it.
    let actions = s.restart(0, t0);
    assert_eq!(
        actions,
        [
            Action::Notify(Notice::Follows {
                instance: 1,
                leader: 0
            }),
            Action::Notify(Notice::Stopping {
                instance: 1,
                signal: SIGTERM
            }),
            Action::Stop(1, SIGTERM),
        ]
    );
    web_then_db_come_back(&mut s, t0);
    // A restart of web alone leaves db be.
    s.on_spawned(1, t0);
    let actions = s.restart(1, t0);
    assert!(!actions.contains(&Action::Stop(0, SIGTERM)), "{actions:?}");
}

#[test]
fn a_follower_of_a_crashed_leader_waits_for_its_restart() {
    let t0 = Instant::now();
    let mut s = db_and_follower(OnExit::Restart);
    let actions = s.on_exit(0, Exit::Code(1), t0);
    let said = notices(&actions);
    assert!(
        matches!(said[0], Notice::Restarting { instance: 0, .. }),
        "{said:?}"
    );
    assert_eq!(
        said[1],
        Notice::Follows {
            instance: 1,
            leader: 0
        }
    );
    assert!(actions.contains(&Action::Stop(1, SIGTERM)), "{actions:?}");
    s.on_exit(1, Exit::Signal(SIGTERM), t0);
    assert!(
        !s.on_group_gone(1, t0).contains(&Action::Spawn(1)),
        "web waits for db"
    );
    // db's backoff ends: it starts, and once ready web follows.
    let later = t0 + Duration::from_secs(2);
    assert!(s.on_tick(later).contains(&Action::Spawn(0)));
    s.on_spawned(0, later);
    assert!(s.on_ready(0, later).contains(&Action::Spawn(1)));
    assert!(!s.is_stopping());
}
