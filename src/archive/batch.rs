//! The batch being archived: rows decoded from records, and the offset to commit for each
//! partition once those rows are in the database. Pure: no I/O, unit-tested here.

use std::collections::BTreeMap;

use rdkafka::{Offset, TopicPartitionList};

use crate::model::Sample;

/// Rows waiting to be written, and where each partition resumes after it.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Sample>,
    /// Next offset (last seen + 1) per partition: what the group commits after the rows.
    next: BTreeMap<i32, i64>,
    /// Records seen (rows and bad records): a batch of only bad records still commits.
    records: usize,
}

impl Batch {
    /// Adds the record at `partition`/`offset`; `sample` is None for a bad record, which
    /// is skipped but still moves its partition on.
    pub fn push(&mut self, partition: i32, offset: i64, sample: Option<Sample>) {
        self.rows.extend(sample);
        let next = self.next.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
        self.records += 1;
    }

    /// Records held, good and bad: what `archive.batch_size` bounds.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether any record (good or bad) is held.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The offsets to commit once the rows are written, for `topic`.
    pub fn offsets(&self, topic: &str) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (&partition, &next) in &self.next {
            // Cannot fail: a partition is added once, with a plain offset.
            let _ = tpl.add_partition_offset(topic, partition, Offset::Offset(next));
        }
        tpl
    }

    /// The next offset per partition (for the lag gauge).
    pub fn next_offsets(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.next.iter().map(|(&p, &o)| (p, o))
    }

    /// Empties the batch for the next one, keeping its allocation.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.next.clear();
        self.records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SwitchId;

    fn sample(n: u32) -> Sample {
        Sample {
            switch: SwitchId(n),
            bandwidth_in_mbps: 1.0,
            bandwidth_out_mbps: 2.0,
            latency_ms: 0.5,
            packet_errors: 3,
            updated_at_ms: 1_000,
        }
    }

    #[test]
    fn a_batch_commits_the_offset_after_the_last_record_of_each_partition() {
        let mut b = Batch::default();
        assert!(b.is_empty());
        b.push(0, 10, Some(sample(1)));
        b.push(2, 5, None);
        b.push(0, 11, Some(sample(2)));
        assert!(!b.is_empty());
        assert_eq!(b.rows.len(), 2);
        let tpl = b.offsets("t");
        let got: Vec<_> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
            .collect();
        assert_eq!(
            got,
            [
                ("t".to_string(), 0, Offset::Offset(12)),
                ("t".to_string(), 2, Offset::Offset(6))
            ]
        );
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.offsets("t").count(), 0);
    }

    #[test]
    fn a_batch_of_only_bad_records_still_moves_its_partition_on() {
        let mut b = Batch::default();
        b.push(1, 0, None);
        assert!(b.rows.is_empty());
        assert!(!b.is_empty());
        assert_eq!(b.next_offsets().collect::<Vec<_>>(), [(1, 1)]);
    }
}
