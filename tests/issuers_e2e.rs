//! Issuer URLs the SPEC allows (https, no whitespace or control characters, ≤ 2048 bytes)
//! but YAML needs quoting for — `#` (a fragment, which would start a comment), quotes,
//! backslashes, `: `-free indicators, non-ASCII, and the maximum length — end to end: the
//! written file parses back to the exact URL, the k3s stand-in (yaml.v2 rules, Go's URL
//! parser, kube-apiserver's checks) accepts it and serves it, and aio-prep verifies it live.

mod bed;

use bed::{aio, server};

#[test]
fn issuers_that_need_quoting_are_written_verbatim_and_k3s_runs_them() {
    let long = format!("https://issuer.example/{}", "a".repeat(2048 - 23));
    assert_eq!(long.len(), 2048);
    let issuers = [
        "https://issuer.example/t/#fragment",
        "https://issuer.example/'single'/\"double\"/back\\slash/",
        "https://issuer.example/ünïcødé/日本/",
        "https://issuer.example/-x/[a]/{b}/&a/*a/!t/|/>/%41/@/?q=1",
        long.as_str(),
    ];
    let tb = server("# site\nnode-name: quoting\nkube-apiserver-arg:\n  - 'audit-log-maxage=30'\n");
    for (i, issuer) in issuers.iter().enumerate() {
        tb.systemctl(&["reset-failed", "k3s.service"]);
        let r = aio(
            &tb,
            &["--issuer-url", issuer, "--output", "json", "apply"],
            &[],
        );
        assert_eq!(r.code, 0, "{issuer}: {}\n{}", r.stdout, r.stderr);
        let j = r.json();
        assert_eq!(
            bed::step(&j, "verify")["detail"],
            format!("live issuer is {issuer}"),
            "{issuer}"
        );
        // What k3s was started with, through its own YAML and flag parsing.
        let live = bed::last_start_issuers(&tb);
        assert_eq!(live.first().map(String::as_str), Some(*issuer));
        if i > 0 {
            assert_eq!(
                live.get(1).map(String::as_str),
                Some(issuers[i - 1]),
                "previous second"
            );
        }
        // The file holds the URL quoted in the list's style ('…' here) and parses back.
        let text = bed::config(&tb);
        let doc = aio_prep::yaml::Document::parse(std::path::Path::new("/c.yaml"), &text)
            .expect("parses");
        let entries = doc.top_entries().expect("map");
        let (_, list) = entries
            .iter()
            .find(|(k, _)| k.as_scalar() == Some("kube-apiserver-arg"))
            .expect("list");
        let aio_prep::yaml::NodeKind::Seq { items, .. } = &list.kind else {
            panic!("block list: {text}")
        };
        assert_eq!(
            items[0].as_scalar(),
            Some(format!("service-account-issuer={issuer}").as_str()),
            "{text}"
        );
        assert_eq!(aio(&tb, &["--issuer-url", issuer, "status"], &[]).code, 0);
    }
    // 2049 bytes is refused before anything is touched.
    let too_long = format!("{long}b");
    let r = aio(&tb, &["--issuer-url", &too_long, "apply"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
