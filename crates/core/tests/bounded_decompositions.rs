//! No dense decomposition of the core may iterate without a bound: nalgebra's convenience calls
//! (`symmetric_eigenvalues`, `complex_eigenvalues`, `svd`, `SymmetricEigen::new`, ...) loop until
//! they converge, and its real Schur iteration cycles forever on some ordinary matrices (a 6 x 6
//! e^M hung a continuation). Every call goes through `src/decomp.rs` or a `try_new` with a bound.

use std::path::Path;

const UNBOUNDED: &[&str] = &[
    ".symmetric_eigenvalues()",
    ".complex_eigenvalues()",
    ".eigenvalues()",
    ".singular_values()",
    ".schur()",
    ".symmetric_eigen()",
    ".svd(",
    ".svd_unordered(",
    "SymmetricEigen::new(",
    "Schur::new(",
    "SVD::new(",
    "SVD::new_unordered(",
    ", 0)", // a `try_new(.., eps, 0)`: max_niter 0 means no bound
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, hits);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") || path.ends_with("decomp.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pat in UNBOUNDED {
                let bad = if *pat == ", 0)" {
                    code.contains("try_new(") && code.contains(pat)
                } else {
                    code.contains(pat)
                };
                if bad {
                    hits.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
}

#[test]
fn every_dense_decomposition_of_the_core_is_bounded() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut hits = Vec::new();
    scan(&src, &mut hits);
    assert!(
        hits.is_empty(),
        "unbounded nalgebra decompositions (use crate::decomp):\n{}",
        hits.join("\n")
    );
}
