use super::*;

fn outcome(mode: Mode, effect: Effect) -> Outcome {
    let inventory = Inventory::parse(
        "inv.toml",
        "[hosts.here]\ntransport = \"local\"\n",
        std::path::Path::new("/"),
    )
    .unwrap();
    let ctx = Ctx::new(mode, inventory, Settings::default()).unwrap();
    let host = ctx.inventory.host("here").unwrap();
    let req = ExecRequest {
        command: transport::Command::argv(["echo", "ran"]),
        sudo: false,
        stdin: None,
        timeout: Duration::from_secs(10),
        sensitive: false,
    };
    ctx.exec(&host, &req, effect).unwrap()
}

#[test]
fn a_dry_run_plans_what_it_does_not_run_and_never_fakes_an_output() {
    let ran = |o: Outcome| o.ran().map(|out| out.stdout);
    assert_eq!(
        ran(outcome(Mode::Run, Effect::Mutation)).as_deref(),
        Some("ran\n")
    );
    assert_eq!(
        ran(outcome(Mode::Plan, Effect::Probe)).as_deref(),
        Some("ran\n")
    );
    assert_eq!(ran(outcome(Mode::Plan, Effect::Mutation)), None);
    assert_eq!(ran(outcome(Mode::Offline, Effect::Probe)), None);
}

#[test]
fn a_phase_guard_puts_the_phase_before_back() {
    let ctx = Ctx::new(Mode::Offline, Inventory::default(), Settings::default()).unwrap();
    assert!(!ctx.declaring());
    {
        let _declaring = ctx.enter(Phase::Declaring);
        assert!(ctx.declaring());
        {
            let _running = ctx.enter(Phase::Running);
            assert!(!ctx.declaring());
        }
        assert!(ctx.declaring(), "the inner guard restores the outer phase");
    }
    assert!(!ctx.declaring());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _declaring = ctx.enter(Phase::Declaring);
        panic!("a bug while declaring");
    }));
    assert!(unwound.is_err());
    assert!(!ctx.declaring(), "restored on a panic too");
}
