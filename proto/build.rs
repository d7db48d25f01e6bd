//! Compiles the service contracts with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files =
        ["claude_temporal/executor.proto", "claude_temporal/test_runner.proto", "claude_temporal/control.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        // A run's many progress events stay small; its one result is large.
        .boxed(".claude_temporal.executor.v1.RunAgentEvent.event.result")
        .compile_fds(descriptors)?;
    Ok(())
}
