//! How many instances of each process type to run: `-m web=2,worker=0,all=1` plus `start NAME…`.

use super::procfile::Procfile;

/// A parsed `--formation` value: explicit counts, and the `all=N` default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Formation {
    counts: Vec<(String, usize)>,
    all: Option<usize>,
}

impl Formation {
    /// Parses `web=2,worker=0,all=1`; names are checked later against the Procfile.
    pub fn parse(spec: &str) -> Result<Formation, String> {
        let mut formation = Formation::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, count) = item
                .split_once('=')
                .ok_or_else(|| format!("\"{item}\": expected NAME=COUNT"))?;
            let (name, count) = (name.trim(), count.trim());
            let count: usize = count
                .parse()
                .map_err(|_| format!("\"{item}\": count must be a whole number"))?;
            if name == "all" {
                formation.all = Some(count);
            } else if formation.counts.iter().any(|(n, _)| n == name) {
                return Err(format!("\"{name}\" is given twice"));
            } else {
                formation.counts.push((name.to_owned(), count));
            }
        }
        Ok(formation)
    }

    /// The names that are neither `all` nor a Procfile entry.
    pub fn unknown_names<'a>(&'a self, procfile: &'a Procfile) -> impl Iterator<Item = &'a str> {
        self.counts
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| procfile.position(n).is_none())
    }

    /// Sets the count of `name` unless the formation already names it.
    pub fn set(&mut self, name: &str, count: usize) {
        if !self.counts.iter().any(|(n, _)| n == name) {
            self.counts.push((name.to_owned(), count));
        }
    }

    /// Instances of `name` to run. `selected` is the `start NAME…` list: when it is not empty,
    /// only those types run, each with its own count or else one (`all=N` does not apply, so
    /// `start web -m all=0` runs web), as in foreman.
    pub fn count(&self, name: &str, selected: &[String]) -> usize {
        let explicit = self.counts.iter().find(|(n, _)| n == name).map(|&(_, c)| c);
        if selected.is_empty() {
            explicit.or(self.all).unwrap_or(1)
        } else if selected.iter().any(|s| s == name) {
            explicit.unwrap_or(1)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procfile() -> Procfile {
        Procfile::parse("web: a\nworker: b\nclock: c\n").unwrap()
    }

    #[test]
    fn counts_with_default_and_all() {
        let none = Formation::default();
        assert_eq!(none.count("web", &[]), 1);
        let f = Formation::parse("web=2, worker=0").unwrap();
        assert_eq!(
            (
                f.count("web", &[]),
                f.count("worker", &[]),
                f.count("clock", &[])
            ),
            (2, 0, 1)
        );
        let f = Formation::parse("all=3,web=1").unwrap();
        assert_eq!((f.count("web", &[]), f.count("clock", &[])), (1, 3));
    }

    #[test]
    fn selected_names_exclude_the_others() {
        let selected = vec!["web".to_owned()];
        let f = Formation::parse("web=2").unwrap();
        assert_eq!(
            (f.count("web", &selected), f.count("worker", &selected)),
            (2, 0)
        );
        let f = Formation::parse("all=0").unwrap();
        assert_eq!(
            (f.count("web", &selected), f.count("worker", &selected)),
            (1, 0)
        );
    }

    #[test]
    fn set_fills_in_only_unnamed_types() {
        let mut f = Formation::parse("web=3").unwrap();
        f.set("web", 5);
        f.set("worker", 2);
        assert_eq!((f.count("web", &[]), f.count("worker", &[])), (3, 2));
    }

    #[test]
    fn rejects_malformed_items_and_reports_unknown_names() {
        assert_eq!(
            Formation::parse("web").unwrap_err(),
            "\"web\": expected NAME=COUNT"
        );
        assert_eq!(
            Formation::parse("web=x").unwrap_err(),
            "\"web=x\": count must be a whole number"
        );
        assert_eq!(
            Formation::parse("web=-1").unwrap_err(),
            "\"web=-1\": count must be a whole number"
        );
        assert_eq!(
            Formation::parse("web=1,web=2").unwrap_err(),
            "\"web\" is given twice"
        );
        let f = Formation::parse("web=1,wrker=2,all=0").unwrap();
        assert_eq!(f.unknown_names(&procfile()).collect::<Vec<_>>(), ["wrker"]);
    }
}
