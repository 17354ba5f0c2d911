//! `cargo xtask image <pull-agent|hub-index> [--tag T] [--debug] [--check-only]`: a container
//! image of one binary, assembled from scratch with buildah, then checked.
//!
//! The image holds the release binary at `/usr/local/bin/NAME` (the entrypoint), the shared
//! libraries `ldd` says it loads (glibc and the loader: the one toolchain here cannot build a
//! static binary), the host's CA bundle (the git and hub clients verify TLS with the system's
//! roots), and an `/etc/passwd` and `/etc/group` naming the user it runs as, 65532, never root.
//! Nothing else: no shell, no package manager. The default tag is what the install manifests in
//! `examples/deploy` name; a test checks that they agree.
//!
//! The check after the build does not run the image: containers cannot start on the machines
//! this project builds on (the OCI runtime may not set resource limits there). It reads the
//! image's config (user, entrypoint), lists the files of its one layer against the list it was
//! built from, and runs the entrypoint's `--version` in a `chroot` into the mounted image, as the
//! image's user: with nothing of the host's, so a missing library fails it.
//!
//! `--debug` packs the dev-profile binary instead, quick to build: `cargo xtask ci` uses it to
//! check the assembly without a release build. It is not an image to ship.
//!
//! This is not a registry client: push the image with `buildah push` (or `podman push`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};

/// The binaries that have an image.
pub const BINARIES: [&str; 2] = ["pull-agent", "hub-index"];

/// The user and group the images run as: not root, and the same number as distroless's
/// `nonroot`, which the manifests' `runAsUser` repeats.
pub const USER: u32 = 65532;

/// Where the binary lives in the image.
fn entrypoint(binary: &str) -> String {
    format!("/usr/local/bin/{binary}")
}

/// The tag the manifests in `examples/deploy` name for `binary`.
pub fn default_tag(binary: &str) -> String {
    format!("ghcr.io/flotilla/{binary}:{}", env!("CARGO_PKG_VERSION"))
}

/// The host's CA bundle (Debian's ca-certificates), where the TLS clients look for it.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `cargo xtask image`'s arguments.
#[derive(Debug, clap::Parser)]
#[command(name = "image")]
pub struct Args {
    /// The binary: pull-agent or hub-index.
    #[arg(value_parser = BINARIES)]
    binary: String,
    /// The image's tag; by default the one the manifests in examples/deploy name.
    #[arg(long)]
    tag: Option<String>,
    /// From the debug build (quicker to build; CI's check).
    #[arg(long)]
    debug: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let tag = args.tag.clone().unwrap_or_else(|| default_tag(&args.binary));
    build(&args.binary, &tag, args.debug)?;
    println!("built and checked {tag}");
    Ok(())
}

/// Builds the image `tag` of `binary` and checks it.
pub fn build(binary: &str, tag: &str, debug: bool) -> Result<()> {
    require("buildah", "buildah")?;
    require("ldd", "libc-bin")?;
    require("chroot", "coreutils")?;
    require("strip", "binutils")?;
    let profile = if debug { "debug" } else { "release" };
    let mut cargo = vec!["build", "--quiet", "--package", binary, "--bin", binary];
    if !debug {
        cargo.push("--release");
    }
    crate::cargo(&cargo)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
    let built = target.join(profile).join(binary);

    let ldd = output(Command::new("ldd").arg(&built))?;
    let libraries = parse_ldd(&ldd).with_context(|| format!("ldd {}", built.display()))?;
    let staging = tempfile::tempdir().context("a staging folder")?;
    // The image's binary without its debug sections (line tables, a debug build's full debug
    // info): a fraction of the size, and a panic still names the function.
    let stripped = staging.path().join(binary);
    output(Command::new("strip").arg("--strip-debug").arg("-o").arg(&stripped).arg(&built))?;
    let passwd = staging.path().join("passwd");
    std::fs::write(
        &passwd,
        format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/:/sbin/nologin\n"),
    )?;
    let group = staging.path().join("group");
    std::fs::write(&group, format!("root:x:0:\nnonroot:x:{USER}:\n"))?;

    // (file on the host, path in the image)
    let mut files: Vec<(PathBuf, String)> = vec![(stripped, entrypoint(binary))];
    for library in &libraries {
        // ldd names the path the loader opens, often a link: the image gets the file's content there.
        let real = library.canonicalize().with_context(|| format!("{}", library.display()))?;
        files.push((real, library.to_string_lossy().into_owned()));
    }
    files.push((PathBuf::from(CA_BUNDLE), CA_BUNDLE.to_string()));
    files.push((passwd, "/etc/passwd".to_string()));
    files.push((group, "/etc/group".to_string()));

    let container = output(Command::new("buildah").args(["from", "scratch"]))?.trim().to_string();
    let assembled = assemble(&container, binary, tag, &files);
    // The working container goes whether the commit worked or not.
    let _ = Command::new("buildah").args(["rm", &container]).output();
    assembled?;

    let mut expected: Vec<String> = files.into_iter().map(|(_, inside)| inside).collect();
    expected.sort();
    check(binary, tag, &expected)
}

/// Copies `files` into the working container `container`, sets the config and commits `tag`.
fn assemble(container: &str, binary: &str, tag: &str, files: &[(PathBuf, String)]) -> Result<()> {
    for (host, inside) in files {
        let mode = if inside == &entrypoint(binary) || inside.contains("/ld-linux") { "0755" } else { "0644" };
        let host = host.to_str().context("a path that is not UTF-8")?;
        output(
            Command::new("buildah")
                .args(["copy", "--quiet", "--chown", "0:0", "--chmod", mode, container, host, inside]),
        )?;
    }
    let description = match binary {
        "pull-agent" => "Flotilla's per-cluster agent: pulls git, renders, applies, reports",
        _ => "Flotilla's hub: fleet visibility from git plus agent reports",
    };
    let user = format!("{USER}:{USER}");
    let entry = serde_json::to_string(&[entrypoint(binary)])?;
    let version = env!("CARGO_PKG_VERSION");
    let labels = [
        format!("org.opencontainers.image.title={binary}"),
        format!("org.opencontainers.image.description={description}"),
        format!("org.opencontainers.image.version={version}"),
        format!("org.opencontainers.image.licenses={}", env!("CARGO_PKG_LICENSE")),
        "org.opencontainers.image.vendor=Flotilla".to_string(),
    ];
    let cert_file = format!("SSL_CERT_FILE={CA_BUNDLE}");
    let mut config: Vec<&str> = vec!["config", "--user", &user, "--entrypoint", &entry, "--cmd", ""];
    config.extend(["--workingdir", "/", "--env", "PATH=/usr/local/bin", "--env", &cert_file]);
    config.extend(["--os", "linux", "--arch", "amd64"]);
    for label in &labels {
        config.extend(["--label", label]);
    }
    config.push(container);
    output(Command::new("buildah").args(&config))?;
    output(Command::new("buildah").args(["commit", "--quiet", "--format", "oci", container, tag]))?;
    Ok(())
}

/// Checks the committed image `tag`: its config, its files, and that its entrypoint runs.
fn check(binary: &str, tag: &str, expected: &[String]) -> Result<()> {
    let inspect = output(Command::new("buildah").args(["inspect", "--type", "image", tag]))?;
    let inspect: serde_json::Value = serde_json::from_str(&inspect).context("buildah inspect: not JSON")?;
    let config = &inspect["OCIv1"]["config"];
    ensure!(config["User"] == format!("{USER}:{USER}"), "{tag}: the user is {}, not {USER}", config["User"]);
    ensure!(
        config["Entrypoint"] == serde_json::json!([entrypoint(binary)]),
        "{tag}: entrypoint {}",
        config["Entrypoint"]
    );
    let layers = inspect["OCIv1"]["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    ensure!(layers == 1, "{tag}: {layers} layers, not one");

    let container = output(Command::new("buildah").args(["from", "--quiet", "--pull-never", tag]))?.trim().to_string();
    let checked = check_files(&container, binary, expected);
    let _ = Command::new("buildah").args(["umount", &container]).output();
    let _ = Command::new("buildah").args(["rm", &container]).output();
    checked.with_context(|| format!("checking {tag}"))
}

fn check_files(container: &str, binary: &str, expected: &[String]) -> Result<()> {
    let mount = PathBuf::from(output(Command::new("buildah").args(["mount", container]))?.trim());
    let mut found = Vec::new();
    walk(&mount, &mount, &mut found)?;
    found.sort();
    ensure!(found == expected, "the image holds {found:#?}\nnot {expected:#?}");

    // Only the image's own files: a library ldd named but the image lacks fails here.
    let user = format!("{USER}:{USER}");
    // Found on the host's PATH before the environment is cleared for the binary.
    let chroot = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chroot"))
        .find(|p| p.is_file())
        .context("chroot is not on PATH (Debian package coreutils)")?;
    let mut chroot = Command::new(chroot);
    chroot.arg(format!("--userspec={user}")).arg(&mount).arg(entrypoint(binary)).arg("--version");
    let version = output(chroot.env_clear())?;
    ensure!(
        version.trim() == format!("{binary} {}", env!("CARGO_PKG_VERSION")),
        "{binary} --version in the image printed {version:?}"
    );
    Ok(())
}

/// Every file below `dir`, as an absolute path inside the image rooted at `root`.
fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            walk(root, &path, found)?;
        } else {
            let inside = path.strip_prefix(root).expect("walked below the root");
            found.push(format!("/{}", inside.display()));
        }
    }
    Ok(())
}

/// The libraries `ldd` lists, by the path the loader opens: `libc.so.6 => /lib/…/libc.so.6
/// (0x…)` and the loader itself, `/lib64/ld-linux-x86-64.so.2 (0x…)`. The kernel's vDSO has no
/// file; a library ldd did not find is an error.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") || line.starts_with("linux-vdso") || line.starts_with("linux-gate") {
            continue;
        }
        ensure!(!line.contains("not found"), "a library is missing: {line}");
        let path = match line.split_once("=>") {
            Some((_, after)) => after.trim(),
            None => line,
        };
        let path = path.split_whitespace().next().unwrap_or_default();
        ensure!(path.starts_with('/'), "not a library path: {line:?}");
        libraries.push(PathBuf::from(path));
    }
    Ok(libraries)
}

/// Fails naming the Debian package when `tool` is not installed.
fn require(tool: &str, package: &str) -> Result<()> {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    ensure!(found, "{tool} is not installed: `apt-get install {package}` (Debian package {package})");
    Ok(())
}

/// Runs `command`: its standard output, or an error with its standard error.
fn output(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let out = command.output().with_context(|| format!("running {shown}"))?;
    ensure!(out.status.success(), "{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    String::from_utf8(out.stdout).with_context(|| format!("{shown}: output not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lists_the_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd4b5f2000)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0c1c3a0000)\n\
            \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f0c1c2c1000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1c0e0000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1d4f8000)\n";
        let want = [
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ];
        assert_eq!(parse_ldd(text).unwrap(), want.map(PathBuf::from));
        assert_eq!(parse_ldd("\tstatically linked\n").unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_library_ldd_did_not_find_is_an_error() {
        let text = "\tlibssl.so.3 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n";
        let error = parse_ldd(text).unwrap_err().to_string();
        assert!(error.contains("libssl.so.3"), "{error}");
    }

    #[test]
    fn a_missing_tool_is_named_with_its_package() {
        let error = require("flotilla-no-such-tool", "flotilla-no-such-package").unwrap_err().to_string();
        assert!(error.contains("flotilla-no-such-tool") && error.contains("apt-get install flotilla-no-such-package"));
    }

    #[test]
    fn arguments() {
        use clap::Parser as _;
        let parse = |args: &[&str]| Args::try_parse_from(std::iter::once("image").chain(args.iter().copied()));
        let args = parse(&["hub-index", "--tag", "localhost/hub:dev"]).unwrap();
        assert_eq!(
            (args.binary.as_str(), args.tag.as_deref(), args.debug),
            ("hub-index", Some("localhost/hub:dev"), false)
        );
        let args = parse(&["--debug", "pull-agent"]).unwrap();
        assert_eq!((args.tag, args.debug), (None, true));
        assert!(parse(&["kube-testserver"]).is_err());
        assert!(parse(&[]).is_err());
    }

    /// The `image:` of every container in the install manifests, with the binary the
    /// container runs, and the user its pod runs as.
    #[test]
    fn the_install_manifests_name_the_images_this_builds() {
        let root = crate::root();
        let manifests = [
            ("examples/deploy/deployment.yaml", "pull-agent", 2),
            ("examples/deploy/hub/sqlite/deployment.yaml", "hub-index", 1),
        ];
        for (file, binary, containers) in manifests {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let images: Vec<&str> =
                text.lines().filter_map(|l| l.trim().strip_prefix("image:")).map(str::trim).collect();
            assert_eq!(images.len(), containers, "{file}: {images:?}");
            for image in images {
                assert_eq!(image, default_tag(binary), "{file}: `cargo xtask image {binary}` builds another tag");
            }
            let users: Vec<&str> =
                text.lines().filter_map(|l| l.trim().strip_prefix("runAsUser:")).map(str::trim).collect();
            assert_eq!(users, [USER.to_string()], "{file}: the pod's user is not the image's");
        }
    }
}
