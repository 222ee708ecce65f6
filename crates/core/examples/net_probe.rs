use std::collections::HashMap;
fn main() {
    let spec = std::env::args().nth(1).unwrap();
    let mut s = autobalance_core::Session::new(&spec, HashMap::new()).unwrap();
    s.advance(u64::MAX);
    for n in s.column_names() {
        let c = s.column(n, 0).unwrap();
        println!(
            "{n:>18}: first {:>12.4e} last {:>12.4e} maxabs {:>12.4e}",
            c[0],
            c[c.len() - 1],
            c.iter().fold(0.0f64, |a, x| a.max(x.abs()))
        );
    }
}
