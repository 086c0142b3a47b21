//! Timing figures for the report (`cargo test -p testbed --test timing -- --ignored
//! --nocapture`): manager up, unit start, restart, teardown, sequential and 4 at once.

mod common;

use std::time::{Duration, Instant};

use testbed::Testbed;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "prints timings; run explicitly"]
fn timings() {
    const RUNS: usize = 10;
    let (mut up, mut unit, mut restart, mut down, mut total) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let tb = Testbed::start(common::standin()).unwrap();
        let t = tb.timings();
        up.push(t.manager_up);
        unit.push(t.unit_start.unwrap());
        let t1 = Instant::now();
        assert!(tb.systemctl(&["restart", "k3s.service"]).status.success());
        restart.push(t1.elapsed());
        let t2 = Instant::now();
        tb.teardown().unwrap();
        down.push(t2.elapsed());
        total.push(t0.elapsed());
    }
    eprintln!(
        "sequential x{RUNS} (median): manager up {}, unit start {}, restart {}, teardown {}, \
         whole cycle {}",
        ms(median(up)),
        ms(median(unit)),
        ms(median(restart)),
        ms(median(down)),
        ms(median(total))
    );

    let t0 = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| Testbed::start(common::standin()).unwrap()))
        .collect();
    let beds: Vec<Testbed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let started = t0.elapsed();
    let t1 = Instant::now();
    for tb in beds {
        tb.teardown().unwrap();
    }
    eprintln!(
        "4 at once: all up {}, all torn down {}",
        ms(started),
        ms(t1.elapsed())
    );
}
