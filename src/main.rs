use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use flowsift::cli::Cli;
use flowsift::commands::{self, Environment};
use flowsift::error::{Exit, exit_for, report};
use flowsift::settings::Terminal;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment {
        terminal: Terminal {
            stdout_is_tty: std::io::stdout().is_terminal(),
            stderr_is_tty: std::io::stderr().is_terminal(),
        },
        now_s: chrono::Utc::now().timestamp(),
    };
    match commands::run(cli, &env) {
        Ok(()) => Exit::Success.into(),
        Err(error) => {
            // `flowsift ... | head` closes the pipe early; that is not a failure.
            let broken_pipe = error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return Exit::Success.into();
            }
            #[allow(clippy::print_stderr)] // The one place errors are printed.
            {
                eprintln!("{}", report(&error));
            }
            exit_for(&error).into()
        }
    }
}
