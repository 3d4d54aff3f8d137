# The project built with meson: the tools (pikaci-conform, pikaci-host), the contract library and
# the reference guest (bin/pikaci-incus-run). Call it with pkgs.callPackage; `guestOnly = true`
# keeps the guest alone, which is all a guest image needs.
{
  lib,
  stdenv,
  meson,
  ninja,
  pkg-config,
  jansson,
  cmocka,
  curl,
  # The Incus REST transport of pikaci-host; the guest does not need it.
  withIncus ? false,
  # Only bin/pikaci-incus-run in $out (the guest links the contract library statically).
  guestOnly ? false,
}:

stdenv.mkDerivation (finalAttrs: {
  pname = if guestOnly then "pikaci-guest" else "pikaci";
  version = "0.1.0";

  src = lib.cleanSourceWith {
    src = lib.cleanSource ../.;
    # Local build trees (build/, build-cov/) are not sources.
    filter = path: type: !(type == "directory" && lib.hasPrefix "build" (baseNameOf path));
  };

  strictDeps = true;
  nativeBuildInputs = [
    meson
    ninja
    pkg-config
  ];
  buildInputs = [ jansson ] ++ lib.optional withIncus curl;
  # Added to buildInputs only when the tests are built.
  checkInputs = [ cmocka ];

  mesonFlags = [
    (lib.mesonEnable "tests" finalAttrs.finalPackage.doCheck)
    (lib.mesonEnable "incus" withIncus)
  ];

  doCheck = true;
  # The unit suite needs nothing from outside the build sandbox; the others need Debian tools,
  # namespaces or a VM.
  checkPhase = ''
    runHook preCheck
    meson test --no-rebuild --print-errorlogs --suite unit
    runHook postCheck
  '';

  # The image's closure needs libc and jansson, not the runner, its corpus or the library.
  postInstall = lib.optionalString guestOnly ''
    mv "$out/bin/pikaci-incus-run" "$TMPDIR/pikaci-incus-run"
    rm -r "''${out:?}"/*
    install -D -m 0755 "$TMPDIR/pikaci-incus-run" "$out/bin/pikaci-incus-run"
  '';

  # [D2]: the host runs exactly bin/pikaci-incus-run; [X5]: without a request path it exits 2.
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    test -x "$out/bin/pikaci-incus-run"
    ${lib.optionalString (!guestOnly) ''
      test -x "$out/bin/pikaci-conform"
      test -x "$out/bin/pikaci-host"
    ''}
    status=0
    "$out/bin/pikaci-incus-run" 2>/dev/null || status=$?
    test "$status" -eq 2
    runHook postInstallCheck
  '';

  meta = {
    description =
      if guestOnly then
        "Reference guest of the pikaci guest run contract"
      else
        "Conformance suite, host, reference guest and contract library of the pikaci guest run contract";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = if guestOnly then "pikaci-incus-run" else "pikaci-conform";
  };
})
