# A stand-in for nixpkgs, just large enough to evaluate flake.nix, ../package.nix and the NixOS
# modules here on a machine that cannot fetch nixpkgs (scripts/check-nix). Every function means
# what the real one of the same name means, for the arguments used here; the module system is
# a small one: options with defaults, priorities (mkDefault, mkForce), mkIf pushed down into
# attribute sets, lists concatenated, and attrsOf options whose names depend on conditions.
# Modules inside nixpkgs itself cannot be read: a NixOS system built on one of them gets the
# system.build outputs that module defines (`foreignBuilds`), and an unknown one is an error,
# so a misspelt nixpkgs module name fails here as it would for real.
let
  outPath = "/stub/nixpkgs";
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  # nixos/modules/virtualisation/...: what each image module adds to config.system.build
  # (checked against nixpkgs: lxc-image-metadata.nix, lxc-container.nix,
  # incus-virtual-machine.nix).
  foreignBuilds = {
    "nixos/modules/virtualisation/incus-virtual-machine.nix" = [
      "metadata"
      "qemuImage"
      "repartImage"
    ];
    "nixos/modules/virtualisation/lxc-container.nix" = [
      "metadata"
      "tarball"
      "squashfs"
    ];
  };

  lib = rec {
    inherit (builtins)
      attrNames
      concatMap
      concatStringsSep
      elem
      filter
      foldl'
      head
      length
      stringLength
      substring
      ;

    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    unique = foldl' (seen: x: if elem x seen then seen else seen ++ [ x ]) [ ];
    last = list: builtins.elemAt list (length list - 1);
    hasPrefix = prefix: text: substring 0 (stringLength prefix) text == prefix;
    removePrefix =
      prefix: text:
      if hasPrefix prefix text then
        substring (stringLength prefix) (stringLength text) text
      else
        text;
    escapeRegex =
      let
        special = [
          "\\"
          "["
          "{"
          "("
          ")"
          "^"
          "$"
          "?"
          "*"
          "+"
          "|"
          "."
        ];
      in
      builtins.replaceStrings special (map (c: "\\" + c) special);
    splitString = sep: text: filter builtins.isString (builtins.split (escapeRegex sep) text);
    escapeShellArg = arg: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] arg + "'";
    escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
    concatMapStrings = f: list: concatStringsSep "" (map f list);
    optional = condition: x: if condition then [ x ] else [ ];
    optionalString = condition: text: if condition then text else "";
    mesonEnable = feature: on: "-D${feature}=${if on then "enabled" else "disabled"}";
    cleanSource = src: src;
    cleanSourceWith = { src, ... }: src;
    licenses.mit = "mit";
    platforms.linux = systems;
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };

    # The module system.
    types = {
      bool = "bool";
      str = "str";
      package = "package";
      attrs = "attrs";
      attrsOf = _: "attrsOf";
      listOf = _: "listOf";
    };
    mkOption = option: option // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;

    nixosSystem = { modules, ... }: evalNixos modules;
  };

  inherit (lib)
    attrNames
    concatMap
    filter
    foldl'
    genAttrs
    head
    length
    mkOption
    mkOverride
    unique
    ;

  isOption = v: builtins.isAttrs v && v._type or null == "option";
  isWrapped =
    v:
    builtins.isAttrs v
    && builtins.elem (v._type or null) [
      "if"
      "override"
    ];
  isTree = v: builtins.isAttrs v && !(v ? _type) && v.type or null != "derivation";
  # What a definition looks like under its mkIf and mkOverride, without testing a condition.
  peel = def: if isWrapped def then peel def.content else def;
  # The definitions of attribute NAME inside DEF, keeping DEF's wrappers around each.
  pushInto =
    name: def:
    if def._type or null == "if" then
      map (lib.mkIf def.condition) (pushInto name def.content)
    else if def._type or null == "override" then
      map (mkOverride def.priority) (pushInto name def.content)
    else if def ? ${name} then
      [ def.${name} ]
    else
      [ ];
  # A definition's values with their priority (100 unless overridden), its conditions tested.
  discharge =
    priority: def:
    if def._type or null == "if" then
      (if def.condition then discharge priority def.content else [ ])
    else if def._type or null == "override" then
      discharge def.priority def.content
    else
      [
        {
          inherit priority;
          value = def;
        }
      ];

  mergeTree =
    path: options: defs:
    if isOption options then
      mergeOption path options defs
    else if defs != [ ] && builtins.all isTree (map peel defs) then
      genAttrs (unique (concatMap (def: attrNames (peel def)) defs)) (
        name: mergeTree (path ++ [ name ]) (options.${name} or { }) (concatMap (pushInto name) defs)
      )
    else
      mergeOption path { } defs;

  mergeOption =
    path: option: defs:
    let
      where = lib.concatStringsSep "." path;
      all = concatMap (discharge 100) defs;
      best = foldl' (low: d: if d.priority < low then d.priority else low) 1501 all;
      values = map (d: d.value) (filter (d: d.priority == best) all);
    in
    if values == [ ] then
      throw "stub-nixpkgs: ${where} is used but has no value"
    else if option.type or null == "attrsOf" then
      mergeTree path { } values
    else if builtins.all builtins.isList values then
      builtins.concatLists values
    else if length (unique values) == 1 then
      head values
    else
      throw "stub-nixpkgs: ${where} has conflicting definitions";

  # Each option's default, as a definition of priority 1500 (as in nixpkgs).
  optionDefaults =
    options:
    builtins.listToAttrs (
      concatMap (
        name:
        let
          option = options.${name};
        in
        if isOption option then
          lib.optional (option ? default) {
            inherit name;
            value = mkOverride 1500 option.default;
          }
        else
          [
            {
              inherit name;
              value = optionDefaults option;
            }
          ]
      ) (attrNames options)
    );
  mergeOptions =
    left: right:
    left
    // builtins.mapAttrs (
      name: value:
      if left ? ${name} && !(isOption value) && !(isOption left.${name}) then
        mergeOptions left.${name} value
      else
        value
    ) right;

  # The NixOS options the modules here set, as nixpkgs declares them.
  nixosOptions = {
    environment.systemPackages = mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
    };
    users.users = mkOption {
      type = lib.types.attrsOf "submodule";
      default = { };
    };
    users.groups = mkOption {
      type = lib.types.attrsOf "submodule";
      default = { };
    };
    systemd.tmpfiles.rules = mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
    };
    assertions = mkOption {
      type = lib.types.listOf "assertion";
      default = [ ];
    };
    system.stateVersion = mkOption { type = lib.types.str; };
    nixpkgs.hostPlatform = mkOption { type = lib.types.str; };
  };

  evalNixos =
    modules:
    let
      args = {
        inherit config lib;
        pkgs = legacyPackages.${config.nixpkgs.hostPlatform};
        modulesPath = "${outPath}/nixos/modules";
        options = allOptions;
      };
      collect =
        module:
        if builtins.isString module && lib.hasPrefix "${outPath}/" module then
          {
            foreign = [ (lib.removePrefix "${outPath}/" module) ];
            own = [ ];
          }
        else
          let
            value = if builtins.isPath module || builtins.isString module then import module else module;
            called = if builtins.isFunction value then value args else value;
            shorthand = !(called ? options || called ? config);
            inner = map collect (called.imports or [ ]);
          in
          {
            foreign = concatMap (i: i.foreign) inner;
            own = [
              {
                # nixpkgs imports a file once, however many modules import it.
                key = if builtins.isPath module || builtins.isString module then toString module else null;
                options = called.options or { };
                config =
                  if shorthand then
                    builtins.removeAttrs called [
                      "imports"
                      "meta"
                    ]
                  else
                    called.config or { };
              }
            ] ++ concatMap (i: i.own) inner;
          };
      collected = map collect modules;
      foreign = concatMap (c: c.foreign) collected;
      own =
        [ { options = nixosOptions; } ]
        ++ foldl' (
          kept: m: if m.key != null && builtins.any (k: k.key or null == m.key) kept then kept else kept ++ [ m ]
        ) [ ] (concatMap (c: c.own) collected);
      allOptions = foldl' mergeOptions { } (map (m: m.options) own);
      foreignDefinitions = map (
        module:
        if foreignBuilds ? ${module} then
          { system.build = genAttrs foreignBuilds.${module} (output: "/stub/build/${module}/${output}"); }
        else
          throw "stub-nixpkgs: nixpkgs has no module ${module} that this stub knows of"
      ) foreign;
      config = mergeTree [ ] allOptions (
        map (m: optionDefaults m.options) own
        ++ map (m: m.config or { }) own
        ++ foreignDefinitions
        ++ [ { system.build.toplevel = "/stub/build/toplevel"; } ]
      );
    in
    {
      _type = "configuration";
      inherit config foreign;
    };

  package = name: {
    type = "derivation";
    inherit name;
    outPath = "/stub/store/${name}";
  };

  legacyPackages = genAttrs systems (
    system:
    let
      pkgs = {
        inherit lib system;
        stdenv = {
          hostPlatform = { inherit system; };
          mkDerivation =
            f:
            let
              attrs = if builtins.isFunction f then f final else f;
              final = attrs // package "${attrs.pname}-${attrs.version}" // { finalPackage = final; };
            in
            final;
        };
        callPackage =
          fn: overrides:
          let
            f = if builtins.isFunction fn then fn else import fn;
          in
          f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // overrides);
        runCommand =
          name: env: script:
          builtins.removeAttrs env [ "passthru" ]
          // env.passthru or { }
          // package name
          // {
            inherit script;
          };
        writeText = name: text: package name // { inherit text; };
        mkShell = attrs: attrs // package (attrs.name or "nix-shell");
        python3 = package "python3" // {
          withPackages = f: package "python3-with-packages" // { packages = f pkgs.python3Packages; };
        };
        python3Packages.jsonschema = package "jsonschema";
      }
      // genAttrs [
        "meson"
        "ninja"
        "pkg-config"
        "jansson"
        "cmocka"
        "curl"
        "clang-tools"
        "shellcheck"
        "valgrind"
        "lcov"
        "jq"
      ] package;
    in
    pkgs
  );
in
{
  inherit outPath lib legacyPackages;
}
