//! How the engine sees what the node knows: registered departments and accepted records.
//! The node implements this over its store; tests implement it over maps.

use crate::record::Fields;

pub trait Lookup {
    /// The name of a department registered at the node, by its USCC.
    fn department(&self, code: &str) -> Option<String>;

    /// Whether a department is registered. The default asks [`department`](Self::department);
    /// a store can answer without copying the name.
    fn is_department(&self, code: &str) -> bool {
        self.department(code).is_some()
    }

    /// The current fields of an accepted (not deleted) record, by data set and key.
    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields>;

    /// Lends the accepted record to `visit` instead of copying it; returns whether it
    /// exists. The default copies it through [`accepted`](Self::accepted); a store that
    /// keeps records in memory can override it to save the copy (the engine reads a few
    /// fields of each referenced record).
    fn visit_accepted(&self, dataset: &str, key: &str, visit: &mut dyn FnMut(&Fields)) -> bool {
        match self.accepted(dataset, key) {
            Some(fields) => {
                visit(&fields);
                true
            }
            None => false,
        }
    }
}
