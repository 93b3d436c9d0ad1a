//! The README's first screen, "Connect two real accounts", run exactly as written: each
//! command of its block, in order, with the real binary against the simulator (an OAuth
//! client registered in both accounts, consent auto-approved), the configuration given as
//! `$SHAREBRIDGE_CONFIG`. It ends with a tagged ticket shared end to end through the
//! webhooks `connect` created.

mod live;

use live::{Daemon, Setup, Sim, browse, text, wait_until};

/// The commands of the README's "Connect two real accounts" block, comments removed.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Connect two real accounts")
        .nth(1)
        .expect("the README has a 'Connect two real accounts' section");
    // The README's first screen: the section comes before anything else.
    assert!(
        readme.find("## Connect two real accounts").unwrap() < readme.find("## Commands").unwrap()
    );
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_five_commands_connect_two_accounts_and_share_a_ticket() {
    let commands = readme_commands();
    assert!(commands.len() <= 5, "more than five commands: {commands:?}");
    assert!(
        commands.iter().all(|c| c[0] == "sharebridge"),
        "{commands:?}"
    );
    let sim = Sim::start();
    let setup = Setup::new(&sim);
    let mut daemon = None;
    for cmd in &commands {
        let args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
        match args.first().copied() {
            Some("connect") => {
                let out = browse(setup.command_from_env(&args));
                assert!(out.status.success(), "{cmd:?}: {}", text(&out));
            }
            Some("run") => {
                daemon = Some(Daemon::start_with(
                    setup.command_from_env(&args),
                    setup.dir.path(),
                    setup.port,
                ));
            }
            _ => {
                let out = setup.command_from_env(&args).output().unwrap();
                assert!(out.status.success(), "{cmd:?}: {}", text(&out));
            }
        }
    }
    let daemon = daemon.expect("the README's commands start the daemon");
    let ticket = sim.tagged_ticket("acme", "From the README");
    let external = format!("sharebridge:acme:{ticket}");
    wait_until(20, "the mirror in vendor", || {
        sim.tickets("vendor")
            .iter()
            .any(|t| t["external_id"] == external.as_str())
    });
    // It came through the webhook connect created (the daemon polls hourly here).
    let hooks = sim.webhooks("acme");
    assert!(
        hooks
            .iter()
            .any(|w| w["endpoint"]
                == format!("http://127.0.0.1:{}/webhooks/acme", setup.port).as_str()),
        "{hooks:?}"
    );
    let metrics = live::request(
        "GET",
        &format!("http://127.0.0.1:{}/metrics", setup.port),
        None,
        None,
    )
    .body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sharebridge_webhooks_total")
                && l.contains("account=\"acme\"")
                && l.contains("outcome=\"accepted\"")),
        "{metrics}"
    );
    daemon.stop();
}
