//! The first program inside a run's namespaces: see `ct_confine::init`.

fn main() -> std::process::ExitCode {
    ct_confine::init::main()
}
