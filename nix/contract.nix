# The guest run contract, version 2 (CONTRACT.md §1, §3, §5), as the guest image states it.
#
# The C header src/contract/pikaci-contract.h says the same; scripts/check-lockstep fails on any
# difference. Keep this file a plain attribute set of literals (no interpolation, no let, no
# functions): the lockstep check reads it without evaluating Nix.
{
  requestSchemaVersion = 2;
  lifecycleSchemaVersion = 1;
  # [R5]: a request over 1 MiB is rejected; [R6]: the largest timeout_secs held exactly.
  requestMaxBytes = 1048576;
  timeoutSecsMax = 9007199254740991;

  paths = {
    # [D2]: what the host runs; environment.systemPackages puts it there.
    guest = "/run/current-system/sw/bin/pikaci-incus-run";
    systemBinDir = "/run/current-system/sw/bin";
    systemSwDir = "/run/current-system/sw";
    # [D1], [D3]: the state directory and the files the host pushes and pulls.
    stateDir = "/run/pika-cloud";
    requestPath = "/run/pika-cloud/guest-request.json";
    logsDir = "/run/pika-cloud/logs";
    logPath = "/run/pika-cloud/logs/guest.log";
    statusPath = "/run/pika-cloud/status.json";
    eventsPath = "/run/pika-cloud/events.jsonl";
    resultPath = "/run/pika-cloud/result.json";
    artifactsDir = "/run/pika-cloud/artifacts";
    # [G1]: the layout the image owns.
    workspaceDir = "/workspace/snapshot";
    cargoHome = "/cargo-home";
    cargoTarget = "/cargo-target";
    xdgStateHome = "/run/pika-cloud/xdg-state";
    xdgCacheHome = "/cargo-home/xdg-cache";
    rootHome = "/root";
    userHome = "/home/pikaci";
    pgShareDir = "/run/current-system/sw/share/postgresql";
    sslCertFile = "/etc/ssl/certs/ca-bundle.crt";
  };

  # [G1], [X1]: who runs the command when run_as_root is false.
  user = {
    name = "pikaci";
    uid = 1000;
    group = "users";
    gid = 100;
  };

  # §3: every command's environment besides HOME, USER and PATH.
  fixedEnvironment = {
    CARGO_HOME = "/cargo-home";
    CARGO_TARGET_DIR = "/cargo-target";
    XDG_STATE_HOME = "/run/pika-cloud/xdg-state";
    XDG_CACHE_HOME = "/cargo-home/xdg-cache";
    CARGO_TERM_COLOR = "never";
    CARGO_INCREMENTAL = "0";
    PGSYSCONFDIR = "/run/current-system/sw";
    PGSHAREDIR = "/run/current-system/sw/share/postgresql";
    SSL_CERT_FILE = "/etc/ssl/certs/ca-bundle.crt";
    NIX_SSL_CERT_FILE = "/etc/ssl/certs/ca-bundle.crt";
  };
}
