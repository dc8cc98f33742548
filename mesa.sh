#!/usr/bin/env bash
# mesa.sh: install and run mesa with Docker Compose (or podman with podman-compose).
#
#   ./mesa.sh init [options]   create the persistent folder: config.toml, .env (secrets),
#                              docker-compose.yaml, optional self-signed certificate
#   ./mesa.sh start|stop|restart|update|status|check|logs|uninstall
#   ./mesa.sh mesa ARGS...     run the mesa CLI in the running container (e.g. `mesa events`)
#
# Run `./mesa.sh help` for every option. Everything init asks can be given as a flag or an
# environment variable, so `./mesa.sh init --yes ...` works unattended.
set -euo pipefail

readonly CONTAINER_UID=10001 # the `mesa` user of the image (see Dockerfile)
readonly DEFAULT_DIR=/srv/mesa
readonly WEBHOOK_PATH=/mist/webhook
# docker-compose.yaml's stop_grace_period, which podman-compose does not read.
readonly STOP_GRACE=60

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR

# Options: a flag wins over the environment variable of the same meaning.
DIR=${MESA_DIR:-}
FQDN=${MESA_FQDN:-}
INGEST=${MESA_INGEST:-}
MIST_URL=${MIST_API_URL:-}
MIST_TOKEN=${MIST_API_TOKEN:-}
ORG_ID=${MIST_ORG_ID:-}
WEBHOOK_SECRET=${MIST_WEBHOOK_SECRET:-}
API_TOKEN=${MESA_API_TOKEN:-}
BACKEND=${MESA_BACKEND:-}
NC_USER=${NETCONF_USERNAME:-}
NC_PASSWORD=${NETCONF_PASSWORD:-}
NC_KEY=${NETCONF_PRIVATE_KEY:-}
HOST_PORT=${MESA_HOST_PORT:-}
TLS_CERT_SRC=${MESA_TLS_CERT:-}
TLS_KEY_SRC=${MESA_TLS_KEY:-}
EXAMPLE_CONFIG=${MESA_EXAMPLE_CONFIG:-$SCRIPT_DIR/config.example.toml}
STORE=${MESA_STORE:-}
DATABASE_URL=${MESA_DATABASE_URL:-}
SELF_SIGNED=0
YES=0
FORCE=0
PURGE=0
NO_PULL=0
COMMAND=""
# docker (Docker Engine + Compose v2) or podman (podman + podman-compose): see pick_engine.
ENGINE=${MESA_ENGINE:-}
COMPOSE=()
PASSTHROUGH=()

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat <<'EOF'
Usage: mesa.sh COMMAND [options]

Commands
  init        create or complete the persistent folder (keeps existing files unless --force)
  start       docker compose up -d
  stop        docker compose stop
  restart     recreate the container (picks up config.toml, .env and compose changes)
  update      pull/build the image again and recreate the container (--no-pull: rebuild
              from the base images already on the host, for hosts without a registry)
  status      docker compose ps
  check       validate config.toml inside the container (mesa check-config)
  logs [ARGS] docker compose logs (default: --tail 200 --follow)
  mesa ARGS   run the mesa CLI in the running container, e.g. `mesa.sh mesa events --json`
  uninstall   docker compose down; keeps the folder and its data unless --purge

Options (environment variable in brackets)
  --dir DIR                persistent folder [MESA_DIR] (default: this script's folder once
                           installed, else /srv/mesa)
  --ingest MODE            webhook (Mist POSTs to mesa: needs a public HTTPS name) or stream
                           (mesa dials out to the Mist WebSocket stream: no public URL)
                           [MESA_INGEST] (default: webhook)
  --fqdn NAME              name Mist uses to reach mesa [MESA_FQDN]
  --mist-api-url URL       e.g. https://api.eu.mist.com [MIST_API_URL]
  --mist-api-token TOKEN   [MIST_API_TOKEN]
  --org-id ID              Mist organization id [MIST_ORG_ID]
  --webhook-secret SECRET  random when empty [MIST_WEBHOOK_SECRET]
  --api-token TOKEN        bearer token for mesa's /api/v1, random when empty [MESA_API_TOKEN]
  --backend KIND           dry-run | netconf | cso | mist [MESA_BACKEND] (default: dry-run)
  --netconf-user NAME      [NETCONF_USERNAME] (default: mesa)
  --netconf-password PW    [NETCONF_PASSWORD]
  --netconf-key PATH       private key copied into the folder [NETCONF_PRIVATE_KEY]
  --self-signed            create a self-signed certificate and use mesa's built-in TLS
  --tls-cert PATH --tls-key PATH
                           use this certificate with mesa's built-in TLS [MESA_TLS_CERT/KEY]
  --port PORT              host port to publish [MESA_HOST_PORT] (443 with TLS, else 51360)
  --store KIND             sqlite | postgres (several instances share one PostgreSQL)
                           [MESA_STORE] (default: sqlite)
  --database-url URL       postgres://user:password@host:5432/mesa, kept in .env
                           [MESA_DATABASE_URL] (needed with --store postgres)
  --yes, -y                never ask: take flags, environment and defaults
  --force                  init: overwrite existing config.toml, .env, compose file, certificate
  --purge                  uninstall: also delete config, secrets and data
  --no-pull                update: build from local base images, pull nothing
  --help, -h

Engine [MESA_ENGINE]: docker when `docker compose` (Compose v2) works, else podman with
podman-compose; MESA_ENGINE=docker or podman picks one.

Flags show up in `ps`: prefer the environment variables for secrets.
EOF
}

need_value() {
	[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
}

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; DIR=$2; shift ;;
		--fqdn) need_value "$@"; FQDN=$2; shift ;;
		--ingest) need_value "$@"; INGEST=$2; shift ;;
		--mist-api-url) need_value "$@"; MIST_URL=$2; shift ;;
		--mist-api-token) need_value "$@"; MIST_TOKEN=$2; shift ;;
		--org-id) need_value "$@"; ORG_ID=$2; shift ;;
		--webhook-secret) need_value "$@"; WEBHOOK_SECRET=$2; shift ;;
		--api-token) need_value "$@"; API_TOKEN=$2; shift ;;
		--backend) need_value "$@"; BACKEND=$2; shift ;;
		--netconf-user) need_value "$@"; NC_USER=$2; shift ;;
		--netconf-password) need_value "$@"; NC_PASSWORD=$2; shift ;;
		--netconf-key) need_value "$@"; NC_KEY=$2; shift ;;
		--tls-cert) need_value "$@"; TLS_CERT_SRC=$2; shift ;;
		--tls-key) need_value "$@"; TLS_KEY_SRC=$2; shift ;;
		--port) need_value "$@"; HOST_PORT=$2; shift ;;
		--store) need_value "$@"; STORE=$2; shift ;;
		--database-url) need_value "$@"; DATABASE_URL=$2; shift ;;
		--self-signed) SELF_SIGNED=1 ;;
		--yes | -y) YES=1 ;;
		--force) FORCE=1 ;;
		--purge) PURGE=1 ;;
		--no-pull) NO_PULL=1 ;;
		--help | -h) COMMAND=help ;;
		-*) die "unknown option $1 (see: mesa.sh help)" ;;
		*)
			if [[ -z $COMMAND ]]; then
				COMMAND=$1
				# These hand the rest of the line to docker compose / mesa untouched.
				if [[ $COMMAND == logs || $COMMAND == mesa ]]; then
					shift
					PASSTHROUGH=("$@")
					return
				fi
			else
				die "unexpected argument $1"
			fi
			;;
		esac
		shift
	done
}

# The folder holding docker-compose.yaml, .env and config.toml. Once installed, mesa.sh lives
# there too, so running it from that copy needs no --dir.
resolve_dir() {
	if [[ -z $DIR ]]; then
		if [[ -f $SCRIPT_DIR/docker-compose.yaml && -f $SCRIPT_DIR/.env ]]; then
			DIR=$SCRIPT_DIR
		else
			DIR=$DEFAULT_DIR
		fi
	fi
	DIR=${DIR%/}
	[[ -n $DIR ]] || die "refusing to use / as the mesa folder"
}

have_tty() {
	{ : </dev/tty; } 2>/dev/null
}

# ask VAR QUESTION [DEFAULT] [secret]: fills VAR unless it already has a value.
ask() {
	local var=$1 question=$2 default=${3:-} secret=${4:-} answer=""
	[[ -z ${!var} ]] || return 0
	if ((YES)); then
		printf -v "$var" '%s' "$default"
		return 0
	fi
	have_tty || die "no terminal to ask \"$question\": pass --yes with flags or environment variables"
	if [[ -n $default && -z $secret ]]; then
		question="$question [$default]"
	fi
	if [[ -n $secret ]]; then
		read -r -s -p "$question: " answer </dev/tty
		printf '\n' >/dev/tty
	else
		read -r -p "$question: " answer </dev/tty
	fi
	printf -v "$var" '%s' "${answer:-$default}"
}

confirm() {
	((YES)) && return 0
	have_tty || die "no terminal to confirm \"$1\": pass --yes"
	local answer=""
	read -r -p "$1 [y/N]: " answer </dev/tty
	[[ $answer == y || $answer == Y || $answer == yes ]]
}

random_hex() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex 32
	else
		od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
		printf '\n'
	fi
}

# A TOML basic string.
toml_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# A reference to an environment variable, resolved by mesa when it loads the config.
env_ref() {
	# shellcheck disable=SC2016 # the ${...} is for mesa, not for this shell
	printf '"${%s}"' "$1"
}

# toml_edit FILE MODE SECTION KEY [VALUE]
#   MODE=set:     `KEY = VALUE` in [SECTION]: replaces the key's line (or, when the template
#                 only has it commented out, its commented line), else adds it after the
#                 section's last key, else appends the section.
#   MODE=comment: comments out KEY in [SECTION] if it is set there.
# Commented-out headers (`# [backend.netconf]`) count as boundaries for commented lines, so
# an example key of another section is never uncommented into the wrong one.
toml_edit() {
	local file=$1 tmp
	tmp=$(mktemp "$file.XXXXXX")
	MODE=$2 SEC=$3 KEY=$4 VAL=${5:-} awk '
		function header(line,   name) {
			name = line
			sub(/^[ \t#]*/, "", name)
			if (name ~ /^\[\[/) return "[[array]]"
			sub(/^\[[ \t]*/, "", name)
			sub(/[ \t]*\].*$/, "", name)
			return name
		}
		BEGIN { mode = ENVIRON["MODE"]; sec = ENVIRON["SEC"]; key = ENVIRON["KEY"]; val = ENVIRON["VAL"]
			live = "^[ \t]*" key "[ \t]*="; dead = "^[ \t]*#+[ \t]*" key "[ \t]*=" }
		NR == FNR {
			if ($0 ~ /^[ \t]*\[/) { cur = header($0); ccur = cur; if (cur == sec && !hdr) hdr = FNR; next }
			if ($0 ~ /^[ \t]*#+[ \t]*\[[^ \t]/) { ccur = header($0); next }
			if (cur == sec && $0 !~ /^[ \t]*(#.*)?$/) last = FNR
			if (cur == sec && !livel && $0 ~ live) livel = FNR
			if (cur == sec && ccur == sec && !deadl && $0 ~ dead) deadl = FNR
			next
		}
		FNR == 1 { target = (livel ? livel : (mode == "set" ? deadl : 0)) }
		{
			if (FNR == target) {
				if (mode == "set") print key " = " val; else print "# " $0
				done = 1; next
			}
			print
			if (FNR == (last ? last : hdr) && !target && mode == "set") { print key " = " val; done = 1 }
		}
		END { if (mode == "set" && !done) { print ""; print "[" sec "]"; print key " = " val } }
	' "$file" "$file" >"$tmp"
	mv "$tmp" "$file"
}

toml_set() { toml_edit "$1" set "$2" "$3" "$4"; }
toml_comment() { toml_edit "$1" comment "$2" "$3"; }

# Sets a secret as a ${VAR} reference and disables a `<key>_file` the template may have.
toml_set_secret() {
	toml_set "$1" "$2" "$3" "$(env_ref "$4")"
	toml_comment "$1" "$2" "${3}_file"
}

# The string value of KEY in [SECTION] of a TOML file, when it is set on one line.
toml_get() {
	[[ -f $1 ]] || return 0
	SEC=$2 KEY=$3 awk '
		/^[ \t]*\[/ { name = $0; sub(/^[ \t]*\[[ \t]*/, "", name); sub(/[ \t]*\].*$/, "", name); cur = name; next }
		cur == ENVIRON["SEC"] && $0 ~ "^[ \t]*" ENVIRON["KEY"] "[ \t]*=[ \t]*\"" {
			v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); print v; exit
		}' "$1"
}

# The value of KEY in a .env file written by init (single-quoted or bare).
env_get() {
	local file=$1 key=$2 line
	[[ -f $file ]] || return 0
	line=$(grep -E "^${key}=" "$file" | tail -n 1 || true)
	line=${line#"${key}="}
	line=${line#\'}
	line=${line%\'}
	printf '%s' "$line"
}

# Compose reads single-quoted values literally: no $ interpolation, no escapes. So a value
# must not contain a single quote or a line break. Values of plain characters are written
# bare: podman (`--env-file`) would keep the quotes as part of the value.
env_line() {
	local key=$1 value=$2
	[[ $value != *"'"* && $value != *$'\n'* ]] ||
		die "$key contains a quote or a line break, which .env cannot hold literally"
	if [[ $value =~ ^[A-Za-z0-9._/:@%+,=-]*$ ]]; then
		printf '%s=%s\n' "$key" "$value"
	else
		printf "%s='%s'\n" "$key" "$value"
	fi
}

# Files the mesa container reads or writes must belong to its user. As root we can arrange
# that; otherwise the container runs with the operator's uid instead (MESA_UID in .env).
give_to_container() {
	if [[ $(id -u) -eq 0 ]]; then
		chown -R "$CONTAINER_UID:$CONTAINER_UID" "$@"
	fi
}

is_ipv4() {
	[[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
}

is_self_signed() {
	local issuer subject
	issuer=$(openssl x509 -in "$1" -noout -issuer 2>/dev/null) || return 1
	subject=$(openssl x509 -in "$1" -noout -subject 2>/dev/null) || return 1
	[[ ${issuer#issuer=} == "${subject#subject=}" ]]
}

make_self_signed() {
	local crt=$1 key=$2 san
	command -v openssl >/dev/null 2>&1 || die "openssl is needed for --self-signed"
	if is_ipv4 "$FQDN"; then san="IP:$FQDN"; else san="DNS:$FQDN"; fi
	(
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 \
			-subj "/CN=$FQDN" -addext "subjectAltName=$san" \
			-keyout "$key" -out "$crt" 2>/dev/null
	) || die "openssl could not create the certificate"
	chmod 644 "$crt"
}

validate_inputs() {
	case $BACKEND in
	dry-run | netconf | cso | mist) ;;
	*) die "--backend must be dry-run, netconf, cso or mist (got \"$BACKEND\")" ;;
	esac
	case $INGEST in
	webhook | stream) ;;
	*) die "--ingest must be webhook or stream (got \"$INGEST\")" ;;
	esac
	if [[ $INGEST == stream && (-z $MIST_TOKEN || -z $ORG_ID) ]]; then
		die "--ingest stream needs the Mist API token and org id (--mist-api-token, --org-id)"
	fi
	[[ -n $FQDN ]] || die "an FQDN is needed (--fqdn or MESA_FQDN)"
	[[ $FQDN =~ ^[A-Za-z0-9.-]+$ ]] || die "FQDN \"$FQDN\" is not a host name"
	[[ $HOST_PORT =~ ^[0-9]+$ ]] || die "--port must be a number"
	if [[ -n $TLS_CERT_SRC || -n $TLS_KEY_SRC ]]; then
		[[ -f $TLS_CERT_SRC && -f $TLS_KEY_SRC ]] || die "--tls-cert and --tls-key must both name existing files"
		((!SELF_SIGNED)) || die "--self-signed and --tls-cert are exclusive"
	fi
	if [[ $BACKEND != dry-run && -z $MIST_TOKEN ]]; then
		die "backend $BACKEND needs a Mist API token (--mist-api-token or MIST_API_TOKEN)"
	fi
	if [[ $BACKEND == mist && -z $ORG_ID ]]; then
		die "backend mist needs the Mist org id (--org-id or MIST_ORG_ID)"
	fi
	if [[ $BACKEND == netconf && -z $NC_PASSWORD && -z $NC_KEY ]]; then
		die "backend netconf needs --netconf-password or --netconf-key"
	fi
	local pair name
	for pair in FQDN:fqdn MIST_TOKEN:mist-api-token WEBHOOK_SECRET:webhook-secret API_TOKEN:api-token NC_PASSWORD:netconf-password; do
		name=${pair%%:*}
		[[ ${!name} != *"'"* && ${!name} != *$'\n'* ]] ||
			die "--${pair#*:}: a single quote or a line break cannot be stored in .env"
	done
	if [[ -n $NC_KEY && ! -f $NC_KEY ]]; then
		die "--netconf-key $NC_KEY: no such file"
	fi
}

write_config() {
	local target=$1 tls=$2 tmp
	[[ -f $EXAMPLE_CONFIG ]] || die "example configuration $EXAMPLE_CONFIG not found (set MESA_EXAMPLE_CONFIG)"
	tmp=$(mktemp "$target.XXXXXX")
	cp "$EXAMPLE_CONFIG" "$tmp"
	# Paths are the container's: the folder is mounted at /etc/mesa, data at /var/lib/mesa.
	toml_set "$tmp" server listen '"0.0.0.0:51360"'
	toml_set "$tmp" server webhook_path "$(toml_str "$WEBHOOK_PATH")"
	toml_set "$tmp" server data_dir '"/var/lib/mesa"'
	toml_set_secret "$tmp" server api_token MESA_API_TOKEN
	if [[ $tls == yes ]]; then
		toml_set "$tmp" server tls_cert '"/etc/mesa/certs/mesa.crt"'
		toml_set "$tmp" server tls_key '"/etc/mesa/certs/mesa.key"'
	else
		toml_comment "$tmp" server tls_cert
		toml_comment "$tmp" server tls_key
	fi
	toml_set "$tmp" mist api_url "$(toml_str "$MIST_URL")"
	if [[ -n $MIST_TOKEN ]]; then
		toml_set_secret "$tmp" mist api_token MIST_API_TOKEN
	else
		toml_comment "$tmp" mist api_token
	fi
	if [[ -n $ORG_ID ]]; then
		toml_set "$tmp" mist org_id "$(toml_str "$ORG_ID")"
	else
		toml_comment "$tmp" mist org_id
	fi
	toml_set_secret "$tmp" mist webhook_secret MIST_WEBHOOK_SECRET
	toml_set "$tmp" ingest mode "$(toml_str "$INGEST")"
	toml_set "$tmp" backend kind "$(toml_str "$BACKEND")"
	if [[ $BACKEND == netconf ]]; then
		toml_set "$tmp" backend.netconf username "$(toml_str "$NC_USER")"
		if [[ -n $NC_PASSWORD ]]; then
			toml_set_secret "$tmp" backend.netconf password NETCONF_PASSWORD
		else
			toml_comment "$tmp" backend.netconf password
			toml_comment "$tmp" backend.netconf password_file
		fi
		if [[ -n $NC_KEY ]]; then
			toml_set "$tmp" backend.netconf private_key '"/etc/mesa/keys/netconf_key"'
		else
			toml_comment "$tmp" backend.netconf private_key
		fi
		# accept-new learns host keys here, so it must be in the writable data volume.
		toml_set "$tmp" backend.netconf known_hosts '"/var/lib/mesa/known_hosts"'
	fi
	if [[ $STORE == postgres ]]; then
		toml_set "$tmp" store kind '"postgres"'
		toml_set_secret "$tmp" store url MESA_DATABASE_URL
	fi
	chmod 644 "$tmp"
	mv "$tmp" "$target"
}

write_env() {
	local target=$1 tmp
	tmp=$(mktemp "$target.XXXXXX") # mktemp creates it 0600: never readable by others
	{
		say "# mesa: secrets and Docker Compose settings, written by mesa.sh init."
		say "# Keep it private (mode 600). config.toml refers to the secrets as \${NAME}."
		env_line MESA_FQDN "$FQDN"
		env_line MESA_HOST_PORT "$HOST_PORT"
		if [[ -f $SCRIPT_DIR/Dockerfile ]]; then
			env_line MESA_BUILD_CONTEXT "$SCRIPT_DIR"
		fi
		if [[ $(id -u) -ne 0 ]]; then
			env_line MESA_UID "$(id -u)"
			env_line MESA_GID "$(id -g)"
		fi
		env_line MESA_API_TOKEN "$API_TOKEN"
		env_line MIST_WEBHOOK_SECRET "$WEBHOOK_SECRET"
		if [[ -n $MIST_TOKEN ]]; then env_line MIST_API_TOKEN "$MIST_TOKEN"; fi
		if [[ -n $NC_PASSWORD ]]; then env_line NETCONF_PASSWORD "$NC_PASSWORD"; fi
		if [[ -n $DATABASE_URL ]]; then env_line MESA_DATABASE_URL "$DATABASE_URL"; fi
	} >"$tmp"
	chmod 600 "$tmp"
	mv "$tmp" "$target"
}

# Copies SRC to DEST unless DEST exists (then only with --force). Prints what happened.
install_file() {
	local src=$1 dest=$2 mode=$3
	if [[ -e $dest && $FORCE -eq 0 ]]; then
		say "  kept     $dest"
		return 0
	fi
	[[ -f $src ]] || die "$src not found"
	install -m "$mode" "$src" "$dest"
	say "  wrote    $dest"
}

# ${VAR} references in live config lines that .env does not define make check-config fail.
check_env_refs() {
	local config=$1 env=$2 name
	while read -r name; do
		[[ -n $name ]] || continue
		if ! grep -qE "^${name}=" "$env"; then
			warn "config.toml uses \${$name} but $env does not define it: add it there"
		fi
	done < <(grep -vE '^[[:space:]]*#' "$config" | grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*\}' | tr -d '{}$' | sort -u)
}

cmd_init() {
	# Prerequisites first, before any question: init is useless without them.
	pick_engine
	if [[ -z $DIR && ! (-f $SCRIPT_DIR/docker-compose.yaml && -f $SCRIPT_DIR/.env) ]]; then
		ask DIR "Persistent folder" "$DEFAULT_DIR"
	fi
	resolve_dir
	local config=$DIR/config.toml env=$DIR/.env tls=no verify_cert=true crt=$DIR/certs/mesa.crt key=$DIR/certs/mesa.key
	local write_cfg=1 write_env_file=1
	if [[ -f $config && $FORCE -eq 0 ]]; then write_cfg=0; fi
	if [[ -f $env && $FORCE -eq 0 ]]; then write_env_file=0; fi

	# Values an earlier init recorded count as answers.
	[[ -n $FQDN ]] || FQDN=$(env_get "$env" MESA_FQDN)
	[[ -n $HOST_PORT ]] || HOST_PORT=$(env_get "$env" MESA_HOST_PORT)
	[[ -n $WEBHOOK_SECRET ]] || WEBHOOK_SECRET=$(env_get "$env" MIST_WEBHOOK_SECRET)
	[[ -n $MIST_TOKEN ]] || MIST_TOKEN=$(env_get "$env" MIST_API_TOKEN)
	[[ -n $API_TOKEN ]] || API_TOKEN=$(env_get "$env" MESA_API_TOKEN)
	[[ -n $DATABASE_URL ]] || DATABASE_URL=$(env_get "$env" MESA_DATABASE_URL)
	case ${STORE:=sqlite} in
	sqlite) ;;
	postgres) [[ -n $DATABASE_URL ]] || die "--store postgres needs --database-url (or MESA_DATABASE_URL): postgres://user:password@host:5432/mesa" ;;
	*) die "--store must be sqlite or postgres, not $STORE" ;;
	esac
	[[ -n $NC_PASSWORD ]] || NC_PASSWORD=$(env_get "$env" NETCONF_PASSWORD)
	[[ -n $ORG_ID || $write_cfg -eq 1 ]] || ORG_ID=$(toml_get "$config" mist org_id)
	[[ -n $MIST_URL || $write_cfg -eq 1 ]] || MIST_URL=$(toml_get "$config" mist api_url)
	[[ -n $INGEST || $write_cfg -eq 1 ]] || INGEST=$(toml_get "$config" ingest mode)

	ask INGEST "Events: webhook (Mist POSTs to a public HTTPS name) or stream (mesa dials out, no public URL)" "webhook"
	# The stream needs no name Mist can reach: the host name only labels the install.
	if [[ $INGEST == stream ]]; then : "${FQDN:=$(hostname -f 2>/dev/null || hostname)}"; fi
	ask FQDN "FQDN Mist will send webhooks to" "$(hostname -f 2>/dev/null || hostname)"
	if ((write_cfg || write_env_file)); then
		ask MIST_URL "Mist API URL" "https://api.mist.com"
		ask MIST_TOKEN "Mist API token (empty: dry-run only)" "" secret
		ask ORG_ID "Mist org id" ""
		if [[ $INGEST != stream ]]; then ask WEBHOOK_SECRET "Webhook secret (empty: generate one)" "" secret; fi
		ask BACKEND "Backend: dry-run, netconf, cso or mist" "dry-run"
		if [[ $BACKEND == netconf ]]; then
			ask NC_USER "NETCONF user on the switches" "mesa"
			ask NC_KEY "NETCONF private key file (empty: password)" ""
			if [[ -z $NC_KEY ]]; then ask NC_PASSWORD "NETCONF password" "" secret; fi
		fi
	fi
	if ((!YES && !SELF_SIGNED)) && [[ $INGEST != stream && -z $TLS_CERT_SRC && ! -f $crt ]]; then
		local tls_mode=""
		ask tls_mode "HTTPS: proxy (a reverse proxy in front), certificate (built-in TLS) or self-signed" "proxy"
		case $tls_mode in
		proxy) ;;
		self-signed) SELF_SIGNED=1 ;;
		certificate)
			ask TLS_CERT_SRC "Certificate file (PEM, full chain)" ""
			ask TLS_KEY_SRC "Private key file (PEM)" ""
			;;
		*) die "expected proxy, certificate or self-signed (got \"$tls_mode\")" ;;
		esac
	fi
	: "${MIST_URL:=https://api.mist.com}" "${BACKEND:=dry-run}" "${NC_USER:=mesa}" "${INGEST:=webhook}"
	[[ -n $WEBHOOK_SECRET ]] || WEBHOOK_SECRET=$(random_hex)
	[[ -n $API_TOKEN ]] || API_TOKEN=$(random_hex)
	if ((SELF_SIGNED)) || [[ -n $TLS_CERT_SRC || -f $crt ]]; then tls=yes; fi
	if [[ $tls == yes ]]; then : "${HOST_PORT:=443}"; else : "${HOST_PORT:=51360}"; fi
	if ((write_cfg || write_env_file)); then validate_inputs; fi
	if ((write_cfg)) && [[ ! -f $EXAMPLE_CONFIG ]]; then
		die "example configuration $EXAMPLE_CONFIG not found (set MESA_EXAMPLE_CONFIG)"
	fi

	say "mesa folder: $DIR"
	mkdir -p "$DIR" "$DIR/data"
	give_to_container "$DIR/data"

	if ((write_env_file)); then
		write_env "$env"
		say "  wrote    $env (mode 600)"
	else
		say "  kept     $env (use --force to overwrite)"
	fi
	if ((write_cfg)); then
		write_config "$config" "$tls"
		say "  wrote    $config (from $EXAMPLE_CONFIG)"
	else
		say "  kept     $config (use --force to overwrite)"
	fi

	if [[ $SCRIPT_DIR != "$DIR" ]]; then
		install_file "$SCRIPT_DIR/docker-compose.yaml" "$DIR/docker-compose.yaml" 644
		FORCE=1 install_file "${BASH_SOURCE[0]}" "$DIR/mesa.sh" 755
		if [[ -f $EXAMPLE_CONFIG ]]; then
			FORCE=1 install_file "$EXAMPLE_CONFIG" "$DIR/config.example.toml" 644
		fi
		if [[ $INGEST != stream && -f $SCRIPT_DIR/deploy/nginx/mesa.conf && ! -e $DIR/nginx/mesa.conf ]]; then
			mkdir -p "$DIR/nginx"
			sed "s/mesa\.example\.com/$FQDN/g" "$SCRIPT_DIR/deploy/nginx/mesa.conf" >"$DIR/nginx/mesa.conf"
			say "  wrote    $DIR/nginx/mesa.conf (for the reverse-proxy variant of docker-compose.yaml)"
		fi
	fi

	if [[ -n $NC_KEY ]]; then
		mkdir -p "$DIR/keys"
		install -m 600 "$NC_KEY" "$DIR/keys/netconf_key"
		give_to_container "$DIR/keys/netconf_key"
		say "  wrote    $DIR/keys/netconf_key"
	fi
	if [[ -n $TLS_CERT_SRC ]]; then
		mkdir -p "$DIR/certs"
		install -m 644 "$TLS_CERT_SRC" "$crt"
		install -m 600 "$TLS_KEY_SRC" "$key"
		give_to_container "$key"
		say "  wrote    $crt and $key"
	elif ((SELF_SIGNED)); then
		if [[ -f $crt && $FORCE -eq 0 ]]; then
			say "  kept     $crt (use --force to make a new one)"
		else
			mkdir -p "$DIR/certs"
			make_self_signed "$crt" "$key"
			give_to_container "$key"
			say "  wrote    $crt and $key (self-signed for $FQDN)"
		fi
	fi
	if [[ -f $crt ]] && is_self_signed "$crt"; then verify_cert=false; fi
	if [[ ! -f $SCRIPT_DIR/Dockerfile && -z $(env_get "$env" MESA_BUILD_CONTEXT) ]]; then
		warn "no Dockerfile next to mesa.sh: set MESA_IMAGE (a published image) or MESA_BUILD_CONTEXT (a mesa checkout) in $env"
	fi
	check_env_refs "$config" "$env"
	if [[ $INGEST == stream ]]; then
		say ""
		say "Events come from the Mist WebSocket stream: no webhook, certificate or reverse proxy"
		say "is needed. mesa only needs to reach ${MIST_URL:-the Mist API} and its api-ws host."
	else
		print_webhook "$verify_cert"
	fi
}

print_webhook() {
	local verify_cert=$1 url="https://$FQDN" json api_url org
	if [[ $HOST_PORT != 443 && -f $DIR/certs/mesa.crt ]]; then url="$url:$HOST_PORT"; fi
	url="$url$WEBHOOK_PATH"
	json=$(
		cat <<EOF
{
  "name": "mesa",
  "type": "http-post",
  "url": "$url",
  "topics": ["device-events"],
  "secret": "$WEBHOOK_SECRET",
  "enabled": true,
  "verify_cert": $verify_cert
}
EOF
	)
	(umask 077 && printf '%s\n' "$json" >"$DIR/mist-webhook.json")
	api_url=${MIST_URL:-https://api.mist.com}
	org=${ORG_ID:-<org_id>}
	say ""
	say "Create the Mist webhook (saved in $DIR/mist-webhook.json, mode 600):"
	say "$json"
	say ""
	say "  curl -X POST -H \"Authorization: Token \$MIST_API_TOKEN\" -H 'Content-Type: application/json' \\"
	say "       --data @$DIR/mist-webhook.json $api_url/api/v1/orgs/$org/webhooks"
	if [[ $verify_cert == false ]]; then
		say ""
		say "The certificate is self-signed, hence \"verify_cert\": false. With a certificate from a"
		say "public CA (built-in TLS or a reverse proxy), keep \"verify_cert\": true."
	elif [[ ! -f $DIR/certs/mesa.crt ]]; then
		say ""
		say "mesa serves plain HTTP on port $HOST_PORT: put a reverse proxy with a valid certificate"
		say "for $FQDN in front of it (see the nginx variant in docker-compose.yaml)."
	fi
	say ""
	say "Next: review $DIR/config.toml, then: $DIR/mesa.sh check && $DIR/mesa.sh start"
}

# Docker Engine with the Compose v2 plugin (`docker compose`); the old docker-compose v1 and
# a docker without the plugin fail later with misleading errors ("unknown flag: --rm").
need_compose_v2() {
	command -v docker >/dev/null 2>&1 ||
		die "docker is not installed: install Docker Engine and its Compose plugin (https://docs.docker.com/engine/install/), or podman and podman-compose"
	local version
	version=$(docker compose version --short 2>/dev/null) ||
		die "'docker compose' (Compose v2) is missing: install the docker-compose-plugin package (https://docs.docker.com/compose/install/linux/); docker-compose v1 is not supported"
	version=${version#v}
	if ! [[ $version =~ ^([0-9]+)\. ]] || ((BASH_REMATCH[1] < 2)); then
		die "Docker Compose ${version:-of unknown version} is too old: mesa needs Compose v2 (install docker-compose-plugin)"
	fi
}

# podman with Debian's podman-compose (podman 4 has no `podman compose` of its own).
need_podman_compose() {
	command -v podman >/dev/null 2>&1 ||
		die "podman is not installed (apt-get install podman podman-compose)"
	command -v podman-compose >/dev/null 2>&1 ||
		die "podman-compose is missing (apt-get install podman-compose)"
}

# Sets ENGINE and COMPOSE: MESA_ENGINE when set, else Docker when its Compose v2 works, else
# podman when it is installed, else the Docker requirements' error.
pick_engine() {
	if [[ -z $ENGINE ]]; then
		if command -v docker >/dev/null 2>&1 && docker compose version --short >/dev/null 2>&1; then
			ENGINE=docker
		elif command -v podman >/dev/null 2>&1 && ! command -v docker >/dev/null 2>&1; then
			ENGINE=podman
		elif command -v podman >/dev/null 2>&1 && command -v podman-compose >/dev/null 2>&1; then
			ENGINE=podman
		else
			ENGINE=docker
		fi
	fi
	case $ENGINE in
	docker) need_compose_v2 && COMPOSE=(docker compose) ;;
	podman)
		need_podman_compose
		COMPOSE=(podman-compose)
		# The OCI image format has no HEALTHCHECK; keep the Dockerfile's.
		export BUILDAH_FORMAT=docker
		;;
	*) die "MESA_ENGINE must be docker or podman (got \"$ENGINE\")" ;;
	esac
}

# podman passes .env to the container with `--env-file`, which keeps quotes in the value:
# a quoted secret would reach mesa with its quotes. Refuse before starting anything.
check_env_for_podman() {
	local key
	key=$(grep -E "^[A-Za-z_][A-Za-z0-9_]*=['\"]" "$DIR/.env" 2>/dev/null | head -n 1 | cut -d= -f1 || true)
	[[ -z $key ]] ||
		die "$DIR/.env: $key is quoted, and podman would pass the quotes to mesa as part of the value: write it bare (KEY=value), or move a value that needs quotes into a file (e.g. password_file in config.toml)"
}

compose() {
	[[ ${#COMPOSE[@]} -gt 0 ]] || pick_engine
	[[ -f $DIR/docker-compose.yaml ]] || die "$DIR/docker-compose.yaml not found: run mesa.sh init first (or pass --dir)"
	if [[ $ENGINE == podman ]]; then check_env_for_podman; fi
	(cd "$DIR" && "${COMPOSE[@]}" "$@")
}

# Stops and removes the container, leaving mesa the grace period to finish (podman-compose
# down would kill it after 1 s).
compose_down() {
	if [[ $ENGINE == podman ]]; then
		compose down -t "$STOP_GRACE"
	else
		compose down --remove-orphans
	fi
}

# podman-compose reports success even when `podman run` failed: look at the container.
podman_check_running() {
	[[ $ENGINE == podman ]] || return 0
	local state
	state=$(podman container inspect --format '{{.State.Status}}' mesa 2>/dev/null || true)
	[[ $state == running ]] ||
		die "the mesa container is not running (${state:-not created}): see ./mesa.sh logs --tail 50"
}

# Without systemd podman has no timer to run health checks: run one so that `status` shows
# the health of now.
podman_refresh_health() {
	[[ $ENGINE == podman ]] || return 0
	podman healthcheck run mesa >/dev/null 2>&1 || true
}

# podman-compose down leaves the project's network behind; Docker Compose removes it.
podman_remove_network() {
	local project=${COMPOSE_PROJECT_NAME:-$(basename "$DIR")} net
	while read -r net; do
		[[ -z $net ]] || podman network rm "$net" >/dev/null || true
	done < <(podman network ls --quiet --filter "label=io.podman.compose.project=$project" 2>/dev/null || true)
}

cmd_update() {
	local context
	context=$(env_get "$DIR/.env" MESA_BUILD_CONTEXT)
	if [[ -f ${context:-$DIR}/Dockerfile ]]; then
		if ((NO_PULL)); then
			compose build
		elif [[ $ENGINE == podman ]]; then
			compose build --pull # podman-compose pulls no buildable image anyway
		else
			compose pull --ignore-buildable
			compose build --pull
		fi
	elif ((!NO_PULL)); then
		compose pull # a published image (MESA_IMAGE): nothing to build
	fi
	if [[ $ENGINE == podman ]]; then
		# podman-compose does not recreate a container whose image changed.
		compose_down
		compose up -d
		podman_check_running
	else
		compose up -d --remove-orphans
	fi
}

cmd_uninstall() {
	compose_down
	if [[ $ENGINE == podman ]]; then podman_remove_network; fi
	if ((!PURGE)); then
		say "Stopped and removed the container; $DIR (config, secrets, data) is kept."
		return 0
	fi
	confirm "Delete config, secrets and data in $DIR?" || die "nothing deleted"
	# Only what init created: the folder may hold other things of the operator's.
	rm -rf -- "$DIR/data" "$DIR/certs" "$DIR/keys" "$DIR/nginx"
	rm -f -- "$DIR/.env" "$DIR/config.toml" "$DIR/config.example.toml" "$DIR/docker-compose.yaml" \
		"$DIR/mist-webhook.json" "$DIR/mesa.sh"
	rmdir -- "$DIR" 2>/dev/null || true
	say "Deleted mesa's files in $DIR."
}

main() {
	parse_args "$@"
	case $COMMAND in
	init | help | "") ;;
	*) pick_engine ;;
	esac
	case $COMMAND in
	init) cmd_init ;;
	start) resolve_dir && compose up -d && podman_check_running ;;
	stop)
		resolve_dir
		if [[ $ENGINE == podman ]]; then compose stop -t "$STOP_GRACE"; else compose stop; fi
		;;
	# Recreate rather than `restart`: a restart keeps the old environment from .env.
	restart)
		resolve_dir
		if [[ $ENGINE == podman ]]; then
			compose_down && compose up -d && podman_check_running
		else
			compose up -d --force-recreate
		fi
		;;
	update) resolve_dir && cmd_update ;;
	status) resolve_dir && podman_refresh_health && compose ps ;;
	check) resolve_dir && compose run --rm --no-deps mesa check-config ;;
	logs)
		resolve_dir
		if ((${#PASSTHROUGH[@]})); then compose logs "${PASSTHROUGH[@]}" mesa; else compose logs --tail 200 --follow mesa; fi
		;;
	mesa) resolve_dir && compose exec mesa mesa "${PASSTHROUGH[@]}" ;;
	uninstall) resolve_dir && cmd_uninstall ;;
	help) usage ;;
	"") usage && exit 2 ;;
	*) die "unknown command $COMMAND (see: mesa.sh help)" ;;
	esac
}

main "$@"
