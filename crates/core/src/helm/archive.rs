//! A packed chart (`.tgz`, as `helm package` and `helm dependency build` write them) read from
//! bytes, as Helm's `LoadArchiveFiles` reads it: gzip, then tar (ustar names with their
//! prefix, GNU long names, PAX `path` records), folders and extension headers skipped, the first
//! path element (the chart's folder) dropped, absolute and escaping paths refused, a UTF-8 BOM
//! trimmed. Sizes are bounded as Helm bounds them, so that a gzip bomb is an error.
//!
//! Reading only: nothing is written, no file system is touched.

use std::io::Read as _;

/// Helm's `MaxDecompressedChartSize`.
pub const MAX_CHART_BYTES: u64 = 100 * 1024 * 1024;
/// Helm's `MaxDecompressedFileSize`.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

const BLOCK: usize = 512;

/// The files of a packed chart, path (relative to the chart) → bytes, in archive order; the
/// error says what is wrong, in Helm's words where it has them.
pub fn unpack(gzipped: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .take(MAX_CHART_BYTES + 1)
        .read_to_end(&mut tar)
        .map_err(|e| format!("not a gzip archive: {e}"))?;
    if tar.len() as u64 > MAX_CHART_BYTES {
        return Err(format!("decompressed chart is larger than the maximum size {MAX_CHART_BYTES}"));
    }
    let mut files = Vec::new();
    let mut at = 0;
    let mut long_name: Option<String> = None;
    while at + BLOCK <= tar.len() {
        let header = &tar[at..at + BLOCK];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = usize::try_from(octal(&header[124..136])?).map_err(|_| "a tar entry too large".to_string())?;
        let kind = header[156];
        let data_start = at + BLOCK;
        let data_end = data_start.checked_add(size).filter(|&e| e <= tar.len()).ok_or("a truncated tar archive")?;
        let data = &tar[data_start..data_end];
        at = data_start + size.div_ceil(BLOCK) * BLOCK;
        match kind {
            // GNU long name: the next entry's name.
            b'L' => {
                long_name = Some(text(data));
                continue;
            }
            // PAX extended header: its `path` names the next entry.
            b'x' => {
                long_name = pax_path(data).or(long_name);
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| {
            let (name, prefix) = (text(&header[0..100]), text(&header[345..500]));
            if &header[257..262] == b"ustar" && !prefix.is_empty() { format!("{prefix}/{name}") } else { name }
        });
        // Regular files only ('0', or NUL from old tars); folders and links are skipped.
        if kind != b'0' && kind != 0 {
            continue;
        }
        if size as u64 > MAX_FILE_BYTES {
            return Err(format!(
                "decompressed chart file {name:?} is larger than the maximum file size {MAX_FILE_BYTES}"
            ));
        }
        let delimiter = if name.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = name.split(delimiter).collect();
        if parts[0] == "Chart.yaml" {
            return Err("chart yaml not in base directory".to_string());
        }
        let rest = parts[1..].join("/");
        if rest.starts_with('/') {
            return Err("chart illegally contains absolute paths".to_string());
        }
        let clean = clean(&rest);
        if clean == "." || clean.is_empty() {
            return Err(format!("chart illegally contains content outside the base directory: {name:?}"));
        }
        if clean.starts_with("..") {
            return Err("chart illegally references parent directory".to_string());
        }
        if clean.len() > 1 && clean.as_bytes()[1] == b':' {
            return Err("chart contains illegally named files".to_string());
        }
        let data = data.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(data);
        files.push((clean, data.to_vec()));
    }
    Ok(files)
}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn octal(field: &[u8]) -> Result<u64, String> {
    let digits = text(field);
    let digits = digits.trim_matches([' ', '\0']);
    if digits.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(digits, 8).map_err(|_| format!("a tar header with a bad size {digits:?}"))
}

/// The `path` record of a PAX header (`LEN path=VALUE\n` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .find_map(|record| record.split_once(' ').and_then(|(_, kv)| kv.strip_prefix("path=")).map(str::to_string))
}

/// Go's `path.Clean` for a relative path.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write as _;

    /// A `.tgz` of `files` (paths including the chart's folder), as `helm package` writes one.
    pub(crate) fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, data) in files {
            let mut header = [0u8; BLOCK];
            header[..name.len()].copy_from_slice(name.as_bytes());
            header[100..107].copy_from_slice(b"0000644");
            header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            tar.extend_from_slice(&header);
            tar.extend_from_slice(data.as_bytes());
            tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        tar.extend_from_slice(&[0u8; BLOCK * 2]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_packed_chart_unpacks_without_its_folder() {
        let bytes = tgz(&[("sub/Chart.yaml", "name: sub\n"), ("sub/templates/a.yaml", "\u{feff}x: 1\n")]);
        assert_eq!(
            unpack(&bytes).unwrap(),
            vec![
                ("Chart.yaml".to_string(), b"name: sub\n".to_vec()),
                ("templates/a.yaml".to_string(), b"x: 1\n".to_vec())
            ]
        );
    }

    #[test]
    fn paths_that_leave_the_chart_are_refused() {
        assert_eq!(
            unpack(&tgz(&[("sub/../../x", "")])),
            Err("chart illegally references parent directory".to_string())
        );
        assert_eq!(unpack(&tgz(&[("Chart.yaml", "")])), Err("chart yaml not in base directory".to_string()));
        assert!(unpack(b"not gzip").is_err());
    }
}
