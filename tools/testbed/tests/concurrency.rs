//! Several testbeds at once in one process: each restarts its own k3s; none disturbs another.
//! (Without a cgroup per manager they would share `/app.slice/k3s.service`, and stopping k3s in
//! one manager killed k3s in the other.)

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use common::{cgroup_of, standin, start_pids};
use testbed::Testbed;

const N: usize = 4;
const RESTARTS: usize = 3;

#[test]
fn four_testbeds_restart_their_own_k3s_without_interfering() {
    let t = Instant::now();
    let ready = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let ready = ready.clone();
            thread::spawn(move || {
                let tb = Testbed::start(standin()).unwrap();
                ready.wait();
                // Everyone restarts at the same time.
                for _ in 0..RESTARTS {
                    let out = tb.systemctl(&["restart", "k3s.service"]);
                    assert!(out.status.success(), "testbed {i}: {out:?}");
                    assert_eq!(tb.unit_active_state(), "active", "testbed {i}");
                    let main = tb.main_pid().unwrap() as u64;
                    assert_eq!(start_pids(&tb.starts()).last(), Some(&main), "testbed {i}");
                }
                tb
            })
        })
        .collect();
    let beds: Vec<Testbed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!(
        "{N} testbeds up and restarted {RESTARTS}x in {:?}",
        t.elapsed()
    );

    // Each saw exactly its own starts, runs in its own cgroup, on its own bus and port.
    let mut cgroups = Vec::new();
    let mut ports = Vec::new();
    let mut buses = Vec::new();
    for (i, tb) in beds.iter().enumerate() {
        assert_eq!(
            tb.starts().len(),
            RESTARTS + 1,
            "testbed {i}: {:?}",
            tb.starts()
        );
        let main = tb.main_pid().unwrap();
        let cg = cgroup_of(main);
        assert!(cg.ends_with("/app.slice/k3s.service"), "{cg}");
        cgroups.push(cg);
        // Each stand-in serves its API on its own port.
        std::net::TcpStream::connect(("127.0.0.1", tb.https_port())).expect("API port");
        ports.push(tb.https_port());
        buses.push(tb.bus_address());
    }
    for list in [&cgroups, &buses] {
        let mut dedup = list.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), N, "{list:?}");
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), N);

    // Stopping k3s in (and then tearing down) half of them leaves the others untouched:
    // this is exactly what went wrong with a shared cgroup.
    let mut beds = beds;
    let survivors: Vec<Testbed> = beds.split_off(N / 2);
    let before: Vec<u32> = survivors.iter().map(|tb| tb.main_pid().unwrap()).collect();
    for tb in &beds {
        assert!(tb.systemctl(&["stop", "k3s.service"]).status.success());
        assert_eq!(tb.unit_active_state(), "inactive");
    }
    for tb in beds {
        tb.teardown().unwrap();
    }
    for (tb, pid) in survivors.iter().zip(before) {
        assert_eq!(tb.unit_active_state(), "active");
        assert_eq!(tb.main_pid(), Some(pid));
        assert_eq!(tb.starts().len(), RESTARTS + 1);
    }
    let t = Instant::now();
    for tb in survivors {
        tb.teardown().unwrap();
    }
    eprintln!("teardown of {} testbeds: {:?}", N - N / 2, t.elapsed());
}
