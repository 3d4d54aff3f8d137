# pikaci as a flake: the tools, the reference guest alone, the NixOS module that makes an image a
# pikaci guest, and that image built the way production builds it (an Incus VM) and as a
# container image.
#
# flake.lock is not committed: the repository is developed on machines without network, where
# nixpkgs cannot be fetched, so no lock could be written there. The first `nix build` (or
# `nix flake lock`) on a machine with network writes it; commit it to pin nixpkgs to a revision.
# Until then the input follows the branch named below. scripts/check-nix evaluates these outputs
# offline against a stub nixpkgs (nix/tests/stub-nixpkgs.nix).
{
  description = "pikaci: conformance suite, host and reference guest of the guest run contract, and a NixOS Incus guest image";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      contract = import ./nix/contract.nix;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # A NixOS system: nixpkgs' Incus image module (by its path in nixpkgs) plus the guest's.
      guestSystem =
        system: imageModule:
        lib.nixosSystem {
          modules = [
            "${nixpkgs}/nixos/modules/virtualisation/${imageModule}"
            ./nix/image.nix
            { nixpkgs.hostPlatform = system; }
          ];
        };

      # The two files `incus image import METADATA ROOTFS` takes, under fixed names: the
      # metadata tarball (system.build.metadata, from lxc-image-metadata.nix) with PROPERTIES
      # added to its metadata.yaml (JSON, as nixpkgs writes it), and the root file system (a
      # qcow2 disk for a VM, a squashfs for a container). nixpkgs puts each in a folder whose
      # file name varies with the release, hence `only`.
      incusImage =
        pkgs:
        {
          name,
          nixos,
          rootfs,
          rootfsName,
          properties ? { },
        }:
        pkgs.runCommand name
          {
            nativeBuildInputs = [ pkgs.jq ];
            properties = builtins.toJSON properties;
            passthru = { inherit (nixos) config; };
            meta.description = "NixOS Incus image with the pikaci guest: metadata.tar.xz and ${rootfsName}";
          }
          ''
            only() {
              if [ -f "$1" ]; then
                printf '%s\n' "$1"
                return
              fi
              found=$(find -L "$1" -type f -name "*.$2")
              if [ "$(printf '%s\n' "$found" | grep -c .)" -ne 1 ]; then
                echo "expected one *.$2 in $1, found: $found" >&2
                exit 1
              fi
              printf '%s\n' "$found"
            }
            mkdir "$out" metadata
            tar -xJf "$(only ${nixos.config.system.build.metadata} tar.xz)" -C metadata
            jq --argjson extra "$properties" '.properties += $extra' metadata/metadata.yaml >metadata.yaml
            mv metadata.yaml metadata/metadata.yaml
            (cd metadata && tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner \
              -cJf "$out/metadata.tar.xz" -- *)
            ln -s "$(only ${rootfs} ${lib.last (lib.splitString "." rootfsName)})" "$out/${rootfsName}"
          '';

      # The image's system has the guest where the host runs it ([D2]) and a tmpfiles rule for
      # every §3 folder. Built, not booted: booting needs KVM (VM) or Incus.
      guestInSystem =
        pkgs: name: image:
        let
          toplevel = image.config.system.build.toplevel;
          guest = lib.removePrefix contract.paths.systemSwDir contract.paths.guest;
          folders = with contract.paths; [
            stateDir
            logsDir
            artifactsDir
            xdgStateHome
            workspaceDir
            cargoHome
            xdgCacheHome
            cargoTarget
            userHome
          ];
        in
        pkgs.runCommand name { } ''
          test -x ${toplevel}/sw${guest}
          for folder in ${lib.escapeShellArgs folders}; do
            grep -q "^d $folder " ${toplevel}/etc/tmpfiles.d/00-nixos.conf
          done
          touch "$out"
        '';
    in
    {
      overlays.default = final: _prev: {
        pikaci = final.callPackage ./nix/package.nix { withIncus = true; };
        pikaci-guest = final.callPackage ./nix/package.nix { guestOnly = true; };
      };

      # By its path, so that NixOS imports it once however many modules name it (nix/image.nix
      # does too); wrapped in a set because `nix flake check` wants a set or a function.
      nixosModules.pikaci-guest.imports = [ ./nix/guest-module.nix ];
      nixosModules.default = self.nixosModules.pikaci-guest;

      packages = forAllSystems (
        system: pkgs:
        let
          vm = guestSystem system "incus-virtual-machine.nix";
          container = guestSystem system "lxc-container.nix";
        in
        rec {
          # pikaci-conform and pikaci-host (with the Incus transport), the guest, the library.
          pikaci = pkgs.callPackage ./nix/package.nix { withIncus = true; };
          default = pikaci;
          guest = pkgs.callPackage ./nix/package.nix { guestOnly = true; };

          # nixpkgs' VM image boots an unsigned systemd-boot: the property makes Incus refuse
          # to start it under Secure Boot (a clear error) instead of the firmware hanging.
          incus-vm-image = incusImage pkgs {
            name = "pikaci-incus-vm-image";
            nixos = vm;
            rootfs = vm.config.system.build.qemuImage;
            rootfsName = "disk.qcow2";
            properties."requirements.secureboot" = "false";
          };
          incus-container-image = incusImage pkgs {
            name = "pikaci-incus-container-image";
            nixos = container;
            rootfs = container.config.system.build.squashfs;
            rootfsName = "rootfs.squashfs";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          images = self.packages.${system};
        in
        {
          # Each runs meson's unit suite and the guest's install check ([X5]).
          inherit (images) pikaci guest;
          vm-guest = guestInSystem pkgs "pikaci-vm-guest" images.incus-vm-image;
          container-guest = guestInSystem pkgs "pikaci-container-guest" images.incus-container-image;
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          # What scripts/build and the lint suite use; Incus and the sandbox need root as usual.
          default = pkgs.mkShell {
            inputsFrom = [ self.packages.${system}.pikaci ];
            packages = [
              pkgs.cmocka
              pkgs.clang-tools
              pkgs.shellcheck
              pkgs.valgrind
              pkgs.lcov
              (pkgs.python3.withPackages (ps: [ ps.jsonschema ]))
            ];
          };
        }
      );
    };
}
