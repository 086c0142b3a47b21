//! A small unified diff for `plan` output: common prefix/suffix trimmed, LCS on the middle
//! (aio-prep's edits are local, so the middle is small; a huge middle degrades to -/+).

const CONTEXT: usize = 2;
const MAX_LCS_CELLS: usize = 4_000_000;

pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<(char, &str)> = Vec::new();
    if am.len() * bm.len() <= MAX_LCS_CELLS {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if am[i] == bm[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push((' ', am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
                // Removals before additions, as unified diffs show them.
                ops.push(('-', am[i]));
                i += 1;
            } else {
                ops.push(('+', bm[j]));
                j += 1;
            }
        }
    } else {
        ops.extend(am.iter().map(|l| ('-', *l)));
        ops.extend(bm.iter().map(|l| ('+', *l)));
    }
    let before: Vec<(char, &str)> = a[prefix.saturating_sub(CONTEXT)..prefix]
        .iter()
        .map(|l| (' ', *l))
        .collect();
    let after: Vec<(char, &str)> = a[a.len() - suffix..]
        .iter()
        .take(CONTEXT)
        .map(|l| (' ', *l))
        .collect();
    let old_start = prefix.saturating_sub(CONTEXT) + 1;
    let old_len = before.len() + ops.iter().filter(|(c, _)| *c != '+').count() + after.len();
    let new_len = before.len() + ops.iter().filter(|(c, _)| *c != '-').count() + after.len();
    let mut out = format!(
        "--- {old_name}\n+++ {new_name}\n@@ -{old_start},{old_len} +{old_start},{new_len} @@\n"
    );
    for (c, line) in before.iter().chain(&ops).chain(&after) {
        out.push(*c);
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_the_change_with_context() {
        let d = unified("a", "b", "1\n2\n3\n4\n5\n6\n", "1\n2\n3\nX\n4\n5\n6\n").expect("diff");
        assert_eq!(d, "--- a\n+++ b\n@@ -2,4 +2,5 @@\n 2\n 3\n+X\n 4\n 5\n");
        assert!(unified("a", "b", "x\n", "x\n").is_none());
        let d = unified("a", "b", "1\nold\n2\n", "1\nnew\n2\n").expect("diff");
        assert!(d.ends_with(" 1\n-old\n+new\n 2\n"), "{d}");
        let d = unified("a", "b", "", "k: 1\n").expect("diff");
        assert!(d.ends_with("+k: 1\n"), "{d}");
    }
}
