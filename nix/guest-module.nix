# NixOS module for the guest image (CONTRACT.md §1, §3): with `pikaci.guest.enable`, the reference
# guest at /run/current-system/sw/bin/pikaci-incus-run, user pikaci and the directories the image
# owns. The flake exports it as nixosModules.pikaci-guest; every constant comes from ./contract.nix.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  contract = import ./contract.nix;
  inherit (contract) paths user;
  cfg = config.pikaci.guest;

  # tmpfiles.d(5): create the directory if missing, with this mode and owner; never clean it.
  directory =
    path: mode: owner: group:
    "d ${path} ${mode} ${owner} ${group} -";
  # §3: the guest hands the non-root directories to uid 1000 / gid 100.
  userDirectory = path: directory path "0755" user.name user.group;
  rootDirectory = path: directory path "0755" "root" "root";
in
{
  options.pikaci.guest = {
    # Off by default, as NixOS modules are: importing the module changes nothing by itself.
    enable = lib.mkEnableOption "the pikaci guest: the guest run contract's program, user and layout";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { guestOnly = true; };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { guestOnly = true; }";
      description = "The package whose bin/pikaci-incus-run the host runs ([D2]).";
    };

    contract = lib.mkOption {
      type = lib.types.attrs;
      default = contract;
      readOnly = true;
      description = "The contract's constants (./contract.nix), for other modules to read.";
    };
  };

  config = lib.mkIf cfg.enable {
    # [D2]: system packages are linked into /run/current-system/sw/bin.
    environment.systemPackages = [ cfg.package ];

    users.users.${user.name} = {
      isNormalUser = true;
      uid = user.uid;
      group = user.group;
      home = paths.userHome;
      createHome = true;
      description = "pikaci: runs guest commands whose request says run_as_root = false";
    };
    users.groups.${user.group}.gid = user.gid;

    # /run is a tmpfs: these are created again at every boot, before the host pushes a request.
    systemd.tmpfiles.rules = [
      (rootDirectory paths.stateDir)
      (rootDirectory paths.logsDir)
      (userDirectory paths.artifactsDir)
      (userDirectory paths.xdgStateHome)
      (userDirectory paths.workspaceDir)
      (userDirectory paths.cargoHome)
      (userDirectory paths.xdgCacheHome)
      (userDirectory paths.cargoTarget)
      (directory paths.userHome "0700" user.name user.group)
    ];

    # The contract fixes the ids; fail the build rather than boot an image that breaks [G1].
    assertions = [
      {
        assertion = config.users.users.${user.name}.uid == user.uid;
        message = "pikaci: user ${user.name} must have uid ${toString user.uid} (CONTRACT.md §3)";
      }
      {
        assertion = config.users.groups.${user.group}.gid == user.gid;
        message = "pikaci: group ${user.group} must have gid ${toString user.gid} (CONTRACT.md §3)";
      }
    ];
  };
}
