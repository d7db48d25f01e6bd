//! The gateway as the CLI reaches it: where it is and the key its links are signed with, the
//! configured ones or the local stack's; and `ui`, which prints a one-time sign-in link to its
//! dashboard.

use std::process::ExitCode;

use ct_approvals::link::LinkKey;

use crate::cli::UiArgs;
use crate::error::CliError;

/// The gateway's address and the stack's link key: the configured ones (`CT_LINK_KEY_FILE`,
/// `CT_GATEWAY_URL`), or the local stack's (`dev up` starts a gateway with a key of its own),
/// whose address a configured `CT_GATEWAY_URL` still replaces (a proxy in front of it).
pub(super) fn url_and_key(config: &ct_config::Config) -> anyhow::Result<(String, LinkKey)> {
    let settings = &config.settings.gateway;
    let url_given = config
        .entries
        .iter()
        .any(|entry| entry.key == ct_config::key::GATEWAY_URL && entry.source != ct_config::Source::Default);
    let (url, file) = match &settings.link_key_file {
        Some(file) => (settings.url.clone(), file.clone()),
        None => crate::dev::recorded_gateway()?
            .map(|(recorded, file)| (if url_given { settings.url.clone() } else { recorded }, file))
            .ok_or_else(|| {
                CliError::BadInput(
                    "no link key: give --link-key-file or set CT_LINK_KEY_FILE to the gateway's key file, \
                 or start the local stack (`claude-temporal dev up`), which has a gateway and a key"
                        .to_owned(),
                )
            })?,
    };
    let secret = ct_approvals::read_key_file(&file).map_err(|err| CliError::BadInput(err.to_string()))?;
    let key = LinkKey::new(&secret).map_err(|err| CliError::BadInput(format!("{}: {err}", file.display())))?;
    Ok((url.trim_end_matches('/').to_owned(), key))
}

/// Prints a sign-in link to the dashboard, good once, for ten minutes.
pub(super) fn ui(config: &ct_config::Config, args: UiArgs) -> anyhow::Result<ExitCode> {
    let (url, key) = url_and_key(config)?;
    let now = ct_approvals::unix_now();
    let user = super::decide::login_name();
    let link = format!("{url}/login/{}", ct_approvals::session::login_token(&key, &user, now));
    let minutes = ct_approvals::session::LOGIN_LIFETIME.as_secs() / 60;
    if args.json {
        println!("{}", serde_json::json!({ "url": link, "user": user, "expires_unix": now + minutes as i64 * 60 }));
    } else {
        println!("{link}");
        eprintln!("open it in a browser to sign in to the dashboard as {user}; it works once, for {minutes} minutes");
    }
    Ok(ExitCode::SUCCESS)
}
