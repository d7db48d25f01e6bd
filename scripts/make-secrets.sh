#!/bin/sh
# Makes the compose stack's secrets, one random value per file, in DIR (default ./secrets):
#   control_token        the executors' and test-runners' control-API token
#   nats_<service>       the NATS password of worker, executor, notifier, metrics_sink and cli
#                        (the gateway reads events as cli)
#   link_key             the key approval links are signed with (notifier, gateway, CLI)
#   slack_signing_secret made empty: put your Slack app's signing secret in it to take its
#                        buttons (empty, the gateway refuses Slack's requests)
# Existing files are kept, so running it again changes nothing. The directory is private to its
# owner; the files are readable by everyone who can reach them, because compose bind-mounts each
# into containers that run as other users (uid 10001 and CT_UID) with the host file's mode.
set -eu
dir=${1:-secrets}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"
for name in control_token nats_worker nats_executor nats_notifier nats_metrics_sink nats_cli link_key; do
    file="$dir/$name"
    if [ ! -s "$file" ]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file"
        echo >> "$file"
    fi
    chmod 0444 "$file"
done
if [ ! -e "$dir/slack_signing_secret" ]; then
    : > "$dir/slack_signing_secret"
    chmod 0644 "$dir/slack_signing_secret"
fi
echo "secrets in $dir: control_token, nats_worker, nats_executor, nats_notifier, nats_metrics_sink, nats_cli, link_key, slack_signing_secret (empty until you fill it)"
