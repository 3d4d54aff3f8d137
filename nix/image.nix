# The guest image's own configuration: what a NixOS Incus image needs to be a pikaci guest. The
# flake lays it over nixpkgs' incus-virtual-machine.nix (the production shape: a VM) and over
# lxc-container.nix (a container image, for hosts that cannot run VMs).
{ lib, ... }:

{
  imports = [ ./guest-module.nix ];

  pikaci.guest.enable = true;

  # The image is made once and thrown away with each instance: no state to migrate. Kept at the
  # release of the nixpkgs branch flake.nix pins.
  system.stateVersion = lib.mkDefault "25.05";
}
