# What scripts/check-nix asserts of the module, the package and the flake, evaluated against
# ./stub-nixpkgs.nix (this machine has no nixpkgs). Each attribute is one test: the list of what
# is wrong, empty when it passes. NIXDIR is the nix/ folder, FLAKE the flake.nix to evaluate too
# ("" for none); both are strings, so the script can pass them with --argstr.
{
  nixDir,
  flake ? "",
}:

let
  stub = import ./stub-nixpkgs.nix;
  inherit (stub) lib;
  contract = import (nixDir + "/contract.nix");
  inherit (contract) paths user;
  guestModule = nixDir + "/guest-module.nix";
  guestName = baseNameOf paths.guest;

  expect = what: ok: if ok then [ ] else [ what ];
  system =
    modules:
    (lib.nixosSystem {
      modules = modules ++ [ { nixpkgs.hostPlatform = "x86_64-linux"; } ];
    }).config;

  # The §3 layout as tmpfiles rules: the state and log folders root's, the others the user's,
  # the home private (NixOS's homeMode), nothing cleaned ("-").
  rule =
    path: mode: owner: group:
    "d ${path} ${mode} ${owner} ${group} -";
  userRule = path: rule path "0755" user.name user.group;
  layout = [
    (rule paths.stateDir "0755" "root" "root")
    (rule paths.logsDir "0755" "root" "root")
    (userRule paths.artifactsDir)
    (userRule paths.xdgStateHome)
    (userRule paths.workspaceDir)
    (userRule paths.cargoHome)
    (userRule paths.xdgCacheHome)
    (userRule paths.cargoTarget)
    (rule paths.userHome "0700" user.name user.group)
  ];

  # The guest is installed when systemPackages holds a package whose bin/ has it: NixOS links
  # every system package's bin/ into systemBinDir, the folder of the contract's guest path.
  installsGuest =
    config:
    let
      packages = config.environment.systemPackages;
      guest = lib.head packages;
    in
    if lib.length packages != 1 then
      [ "systemPackages holds ${toString (lib.length packages)} packages, not the guest alone" ]
    else
      expect "the contract's guest is not in systemBinDir" (dirOf paths.guest == paths.systemBinDir)
      ++ expect "the package is not the guest alone (pname ${guest.pname or "?"})" (
        guest.pname or null == "pikaci-guest"
      )
      ++ expect "the package's main program is not ${guestName}" (guest.meta.mainProgram == guestName)
      ++ expect "the package does not install bin/${guestName}" (
        builtins.match ".*test -x \"\\$out/bin/${guestName}\".*" guest.installCheckPhase != null
      );

  hasLayout =
    config:
    map (r: "no tmpfiles rule \"${r}\"") (
      builtins.filter (r: !(builtins.elem r config.systemd.tmpfiles.rules)) layout
    )
    ++ expect "tmpfiles rules beyond the §3 layout" (
      builtins.length config.systemd.tmpfiles.rules == builtins.length layout
    );

  hasUser =
    config:
    let
      account = config.users.users.${user.name};
    in
    if !(config.users.users ? ${user.name} && config.users.groups ? ${user.group}) then
      [ "no user ${user.name} or no group ${user.group}" ]
    else
      expect "user ${user.name} differs from contract.user and paths.userHome" (
      account.uid == user.uid
      && account.group == user.group
      && account.home == paths.userHome
      && account.isNormalUser
    )
    ++ expect "group ${user.group} has not gid ${toString user.gid}" (
      config.users.groups.${user.group}.gid == user.gid
    )
    ++ map (a: "assertion fails: ${a.message}") (builtins.filter (a: !a.assertion) config.assertions);

  off = system [ guestModule ];
  on = system [
    guestModule
    { pikaci.guest.enable = true; }
  ];
  # A user who sets another uid: the module's own assertion must catch it.
  otherUid = system [
    guestModule
    {
      pikaci.guest.enable = true;
      users.users.${user.name}.uid = lib.mkForce (user.uid + 1);
    }
  ];

  moduleChecks = {
    "guest-module.nix: enable defaults to false, and then nothing is installed or created" =
      expect "pikaci.guest.enable is not false by default" (off.pikaci.guest.enable == false)
      ++ expect "systemPackages is not empty" (off.environment.systemPackages == [ ])
      ++ expect "tmpfiles rules are not empty" (off.systemd.tmpfiles.rules == [ ])
      ++ expect "users or groups are declared" (off.users.users == { } && off.users.groups == { })
      ++ expect "assertions are declared" (off.assertions == [ ]);
    "guest-module.nix, enabled: the guest at ${paths.guest}" = installsGuest on;
    "guest-module.nix, enabled: the §3 folders with their owners and modes (tmpfiles)" = hasLayout on;
    "guest-module.nix, enabled: user ${user.name} ${toString user.uid}:${toString user.gid}, assertions hold" =
      hasUser on;
    "guest-module.nix: an image with another uid fails its assertion" = expect "no assertion fails" (
      builtins.any (a: !a.assertion) otherUid.assertions
    );
    "guest-module.nix: the contract is exposed read-only" = expect "pikaci.guest.contract differs" (
      on.pikaci.guest.contract == contract
    );
  };

  flakeChecks =
    let
      flakeDir = dirOf flake;
      outputs = (import flake).outputs {
        self = outputs;
        nixpkgs = stub;
      };
      perSystem = system: {
        "flake.nix: packages.${system}" =
          let
            packages = outputs.packages.${system};
            names = [
              "default"
              "guest"
              "incus-container-image"
              "incus-vm-image"
              "pikaci"
            ];
          in
          expect "packages are ${toString (builtins.attrNames packages)}, not ${toString names}" (
            builtins.attrNames packages == names
          )
          ++ expect "default is not pikaci" (packages.default == packages.pikaci)
          ++ expect "pikaci is built without the Incus transport" (
            builtins.elem "-Dincus=enabled" packages.pikaci.mesonFlags
          )
          ++ expect "pikaci's main program is not pikaci-conform" (
            packages.pikaci.meta.mainProgram == "pikaci-conform"
          )
          ++ expect "guest is not the guest alone" (packages.guest.pname == "pikaci-guest");
        "flake.nix: incus-vm-image (${system}): incus-virtual-machine.nix, metadata and qcow2, the guest enabled" =
          let
            image = outputs.packages.${system}.incus-vm-image;
            from = "/stub/build/nixos/modules/virtualisation/incus-virtual-machine.nix";
          in
          expect "not made from incus-virtual-machine.nix's metadata" (
            builtins.match ".*${from}/metadata.*" image.script != null
          )
          ++ expect "not made from its qemuImage as disk.qcow2" (
            builtins.match ".*${from}/qemuImage.*/disk.qcow2.*" image.script != null
          )
          ++ expect "its metadata does not require Secure Boot off (unsigned systemd-boot)" (
            builtins.fromJSON image.properties == { "requirements.secureboot" = "false"; }
          )
          ++ expect "built for ${image.config.nixpkgs.hostPlatform}" (
            image.config.nixpkgs.hostPlatform == system
          )
          ++ installsGuest image.config
          ++ hasLayout image.config
          ++ hasUser image.config;
        "flake.nix: incus-container-image (${system}): lxc-container.nix, metadata and squashfs, the guest enabled" =
          let
            image = outputs.packages.${system}.incus-container-image;
            from = "/stub/build/nixos/modules/virtualisation/lxc-container.nix";
          in
          expect "not made from lxc-container.nix's metadata" (
            builtins.match ".*${from}/metadata.*" image.script != null
          )
          ++ expect "its metadata gains properties" (builtins.fromJSON image.properties == { })
          ++ expect "not made from its squashfs as rootfs.squashfs" (
            builtins.match ".*${from}/squashfs.*/rootfs.squashfs.*" image.script != null
          )
          ++ installsGuest image.config
          ++ hasLayout image.config;
        "flake.nix: checks.${system} and devShells.${system}.default" =
          let
            checks = outputs.checks.${system};
            vm = checks.vm-guest.script;
          in
          expect "checks are ${toString (builtins.attrNames checks)}" (
            builtins.attrNames checks == [
              "container-guest"
              "guest"
              "pikaci"
              "vm-guest"
            ]
          )
          ++ expect "vm-guest does not test sw/bin/${guestName}" (
            builtins.match ".*test -x /stub/build/toplevel/sw/bin/${guestName}\n.*" vm != null
          )
          ++ map (folder: "vm-guest does not look for the folder ${folder}") (
            builtins.filter (folder: builtins.match ".*'${folder}'.*" vm == null) (
              with paths;
              [
                stateDir
                logsDir
                artifactsDir
                xdgStateHome
                workspaceDir
                cargoHome
                xdgCacheHome
                cargoTarget
                userHome
              ]
            )
          )
          ++ expect "devShells.default does not build from pikaci" (
            outputs.devShells.${system}.default.inputsFrom == [ outputs.packages.${system}.pikaci ]
          );
      };
    in
    {
      "flake.nix: nixosModules.pikaci-guest imports nix/guest-module.nix, once beside nix/image.nix" =
        let
          imported = outputs.nixosModules.pikaci-guest.imports or [ ];
          both = system [
            outputs.nixosModules.pikaci-guest
            (flakeDir + "/nix/image.nix")
          ];
        in
        expect "it imports ${toString imported}" (
          map toString imported == [ (toString (flakeDir + "/nix/guest-module.nix")) ]
        )
        ++ expect "nixosModules.default differs" (
          outputs.nixosModules.default == outputs.nixosModules.pikaci-guest
        )
        ++ installsGuest both;
      "flake.nix: overlays.default adds pikaci and pikaci-guest" =
        let
          pkgs = stub.legacyPackages.x86_64-linux;
          added = outputs.overlays.default pkgs pkgs;
        in
        expect "it adds ${toString (builtins.attrNames added)}" (
          builtins.attrNames added == [
            "pikaci"
            "pikaci-guest"
          ]
        )
        ++ expect "pikaci-guest is not the guest alone" (added.pikaci-guest.pname == "pikaci-guest")
        ++ expect "pikaci lacks the Incus transport" (
          builtins.elem "-Dincus=enabled" added.pikaci.mesonFlags
        );
      "flake.nix: nixpkgs pinned by a branch name" =
        expect "inputs.nixpkgs.url is not github:NixOS/nixpkgs/<branch>" (
          builtins.match "github:NixOS/nixpkgs/nixos-[0-9][0-9]\\.[0-9][0-9]|github:NixOS/nixpkgs/nixos-unstable" (import flake).inputs.nixpkgs.url
          != null
        );
    }
    // perSystem "x86_64-linux"
    // perSystem "aarch64-linux";
in
moduleChecks // (if flake == "" then { } else flakeChecks)
