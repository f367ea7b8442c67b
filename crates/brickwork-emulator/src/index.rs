//! Secondary indexes: key -> the set of ids filed under it (jobs by name,
//! objects by grantee, groups by member; an empty set is dropped, so an
//! index holds only keys that still name something), the sorted union of
//! such sets, and a folder's children in a map keyed by path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

/// File `id` under `key`.
pub fn file<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: K, id: V) {
    index.entry(key).or_default().insert(id);
}

/// Take `id` out from under `key`, and `key` with it when nothing is left.
pub fn unfile<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: &K, id: &V) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

/// The union of `sources`, each already in ascending order, in ascending
/// order and without repeats: merged as it is read, so taking a page of
/// it costs the page (times the log of the sources), not the sources' length.
pub fn union<T: Ord + Clone, I: Iterator<Item = T>>(sources: Vec<I>) -> impl Iterator<Item = T> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut sources = sources;
    let mut heads: BinaryHeap<Reverse<(T, usize)>> =
        sources.iter_mut().enumerate().filter_map(|(at, source)| Some(Reverse((source.next()?, at)))).collect();
    let mut last: Option<T> = None;
    std::iter::from_fn(move || loop {
        let Reverse((item, at)) = heads.pop()?;
        if let Some(next) = sources[at].next() {
            heads.push(Reverse((next, at)));
        }
        if last.as_ref() != Some(&item) {
            last = Some(item.clone());
            return Some(item);
        }
    })
}

/// The entries directly in folder `dir` of a map keyed by absolute path,
/// in name order, after the child named `after`: each child's subtree is
/// stepped over, not read, so a page of a folder costs its own entries.
pub fn children_after<'a, V>(
    by_path: &'a BTreeMap<String, V>,
    dir: &str,
    after: Option<&str>,
) -> impl Iterator<Item = (&'a String, &'a V)> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
    let mut from = match after {
        Some(name) => Excluded(format!("{prefix}{name}")),
        None => Included(prefix.clone()),
    };
    std::iter::from_fn(move || loop {
        let (path, entry) = by_path.range::<String, _>((from.clone(), Unbounded)).next()?;
        let rest = path.strip_prefix(&prefix)?;
        match rest.find('/') {
            // Inside a child's subtree: every key of it sorts below the
            // child's name followed by '0', the character after '/'.
            Some(slash) => from = Included(format!("{}0", &path[..prefix.len() + slash])),
            None => {
                from = Excluded(path.clone());
                if !rest.is_empty() {
                    return Some((path, entry));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::union;

    #[test]
    fn union_merges_sorted_sources_without_repeats() {
        let merged: Vec<i32> =
            union(vec![vec![1, 4, 9].into_iter(), vec![].into_iter(), vec![2, 4, 10].into_iter()]).collect();
        assert_eq!(merged, [1, 2, 4, 9, 10]);
        let newest_first = |ids: Vec<i32>| ids.into_iter().map(std::cmp::Reverse);
        let descending: Vec<i32> =
            union(vec![newest_first(vec![9, 4]), newest_first(vec![10, 9, 1])]).map(|r| r.0).collect();
        assert_eq!(descending, [10, 9, 4, 1]);
    }
}
