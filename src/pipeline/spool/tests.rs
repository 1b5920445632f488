use super::*;

#[test]
fn batches_survive_a_restart_in_order_and_uncertain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 1_000).expect("open");
    spool.append(7, b"first").expect("append");
    spool.append(9, b"second").expect("append");
    assert_eq!(
        spool.oldest().map(|b| (b.batch_id, b.uncertain)),
        Some((7, false))
    );
    fs::write(
        dir.path().join("00000000000000000005-0000000000000001.tmp"),
        b"torn",
    )
    .expect("tmp");
    drop(spool);

    let reopened = Spool::open(dir.path(), 1_000).expect("reopen");
    assert_eq!(reopened.usage(), (11, 2));
    let first = reopened.oldest().expect("first");
    assert_eq!((first.batch_id, first.uncertain), (7, true));
    assert_eq!(
        reopened.read(&first).expect("read"),
        Bytes::from_static(b"first")
    );
    reopened.remove(&first).expect("remove");
    assert_eq!(reopened.oldest().map(|b| b.batch_id), Some(9));
    let third = reopened.append(10, b"third").expect("append after reopen");
    assert_eq!(third.sequence, 2, "sequence continues after the last file");
    assert!(
        !dir.path()
            .join("00000000000000000005-0000000000000001.tmp")
            .exists()
    );
}

#[test]
fn a_shipment_in_flight_ships_again_as_it_was_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 1_000).expect("open");
    let first = spool.append(7, b"first").expect("append");
    let second = spool.append(9, b"second").expect("append");
    spool
        .record_shipment(&[first.clone(), second.clone()])
        .expect("record");
    spool.append(11, b"third").expect("append");
    assert_eq!(
        spool.front(1_000).len(),
        2,
        "the shipment, without the newcomer"
    );
    drop(spool);

    let reopened = Spool::open(dir.path(), 1_000).expect("reopen");
    let front = reopened.front(1_000);
    assert_eq!(
        front
            .iter()
            .map(|b| (b.batch_id, b.uncertain))
            .collect::<Vec<_>>(),
        vec![(7, true), (9, true)]
    );
    for batch in &front {
        reopened.remove(batch).expect("remove");
    }
    reopened.end_shipment().expect("end");
    assert_eq!(
        reopened
            .front(1_000)
            .iter()
            .map(|b| b.batch_id)
            .collect::<Vec<_>>(),
        vec![11]
    );
    drop(reopened);
    assert_eq!(
        Spool::open(dir.path(), 1_000).expect("again").usage(),
        (5, 1)
    );
}

#[test]
fn a_shipment_cut_off_while_leaving_the_spool_had_landed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 1_000).expect("open");
    let group = [
        spool.append(1, b"one").expect("append"),
        spool.append(2, b"two").expect("append"),
        spool.append(3, b"three").expect("append"),
    ];
    spool.record_shipment(&group).expect("record");
    spool.append(4, b"four").expect("append");
    // Landed; the process stops after removing the first batch.
    spool.remove(&group[0]).expect("remove");
    drop(spool);

    let reopened = Spool::open(dir.path(), 1_000).expect("reopen");
    assert_eq!(
        reopened.usage(),
        (4, 1),
        "only the batch after the shipment is left"
    );
    assert_eq!(reopened.front(1_000)[0].batch_id, 4);
    assert!(!dir.path().join(SHIPMENT_FILE).exists());
}

#[test]
fn a_shipment_whose_batches_were_set_aside_does_not_block_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 1_000).expect("open");
    let refused = spool.append(1, b"refused").expect("append");
    spool
        .record_shipment(std::slice::from_ref(&refused))
        .expect("record");
    spool.dead_letter(&refused).expect("aside");
    spool.append(2, b"next").expect("append");
    assert_eq!(spool.front(1_000)[0].batch_id, 2);
}

#[test]
fn refuses_batches_beyond_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 10).expect("open");
    spool.append(1, b"12345678").expect("fits");
    assert!(matches!(
        spool.append(2, b"123"),
        Err(SpoolError::Full { used: 8, max: 10 })
    ));
    let first = spool.oldest().expect("first");
    spool.remove(&first).expect("remove");
    spool.append(2, b"123").expect("fits again");
}

#[test]
fn quarantined_batches_are_kept_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(dir.path(), 100).expect("open");
    let batch = spool.append(3, b"garbage").expect("append");
    spool.quarantine(&batch).expect("quarantine");
    assert_eq!(spool.usage(), (0, 0));
    assert!(
        dir.path()
            .join("corrupt")
            .read_dir()
            .expect("dir")
            .next()
            .is_some()
    );
    assert_eq!(
        Spool::open(dir.path(), 100).expect("reopen").usage(),
        (0, 0)
    );
}
