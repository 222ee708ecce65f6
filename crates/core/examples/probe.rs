use autobalance_core::Session;
use std::collections::HashMap;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (d, eta, std, w, steps): (usize, f64, f64, f64, u64) = (
        args[1].parse().unwrap(),
        args[2].parse().unwrap(),
        args[3].parse().unwrap(),
        args[4].parse().unwrap(),
        args[5].parse().unwrap(),
    );
    let spec = format!(
        r#"{{"model":{{"kind":"matrixFactorization","d1":{d},"d2":{d2},"rank":5,"balanceWeight":{w}}},
      "target":{{"kind":"random","singularValues":[5,4,3,2,1],"seed":1}},
      "init":{{"kind":"gaussian","stdU":{std},"stdV":{std},"seed":2}},
      "schedule":{{"kind":"constant","eta":{eta}}},"steps":{steps},"recordEvery":{every}}}"#,
        d2 = d * 4 / 5,
        every = steps / 20
    );
    let mut s = Session::new(&spec, HashMap::new()).unwrap();
    s.advance(u64::MAX);
    let c = |n| s.column(n, 0).unwrap().to_vec();
    let (st, l, r, imb) = (c("step"), c("loss"), c("normRatio"), c("imbalance"));
    for i in 0..st.len() {
        println!("{:6} {:10.3e} {:8.4} {:10.3e}", st[i], l[i], r[i], imb[i]);
    }
}
