//! The chDB endpoint behaves as ClickHouse's HTTP interface does where tracehouse depends on it:
//! each case is asked of the real 18.16 server too, and both must agree.

mod common;

use common::clickhouse::Engine;

struct Answer {
    status: u16,
    exception_code: Option<String>,
    body: Vec<u8>,
}

/// POSTs `body`, or GETs when there is none (as ClickHouse, which wants a length on POST).
async fn ask(engine: Engine, query_string: &str, body: &'static [u8]) -> Answer {
    let url = format!("{}/?{query_string}", engine.url());
    let client = reqwest::Client::new();
    let request = if body.is_empty() {
        client.get(url)
    } else {
        client.post(url).body(body)
    };
    let response = request.send().await.expect("request");
    Answer {
        status: response.status().as_u16(),
        exception_code: response
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

impl Answer {
    /// The exception code: from the header where the server sends one (18.16 does not), else
    /// from the `Code: N` the text starts with.
    fn code(&self) -> Option<String> {
        self.exception_code.clone().or_else(|| {
            let text = String::from_utf8_lossy(&self.body);
            let digits: String = text
                .strip_prefix("Code: ")?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            Some(digits)
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_with_the_status_code_and_text_of_clickhouse() {
    for (query_string, body, code) in [
        ("", &b"SELECT * FROM no_such_database.t"[..], "81"),
        ("", b"SELECT no_such_column FROM system.one", "47"),
        ("", b"SELEC 1", "62"),
        ("database=no_such_database", b"SELECT 1", "81"),
        ("no_such_setting=1", b"SELECT 1", "115"),
        (
            "readonly=2",
            b"CREATE TABLE default.written (n UInt8) ENGINE = Memory",
            "164",
        ),
    ] {
        let old = ask(Engine::ClickHouse18, query_string, body).await;
        let current = ask(Engine::Chdb, query_string, body).await;
        let text = String::from_utf8_lossy(&current.body);
        assert_eq!(
            (current.status, current.exception_code.as_deref()),
            (old.status, Some(code)),
            "{query_string} {text}"
        );
        assert_eq!(old.code().as_deref(), Some(code), "{query_string}");
        assert!(
            text.starts_with(&format!("Code: {code}. DB::Exception: ")),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_settings_and_databases_travel_as_with_clickhouse() {
    let cases: [(&str, &'static [u8]); 5] = [
        // RowBinary out: a UInt64, a String and a Float64.
        (
            "default_format=RowBinary",
            b"SELECT toUInt64(7), 'seven', toFloat64(0.5)",
        ),
        // The query in the URL, the data of an INSERT in the body (here: none needed).
        ("query=SELECT%20toInt32(-3)%20FORMAT%20RowBinary", b""),
        // Settings as URL parameters apply to that query only.
        (
            "max_threads=3",
            b"SELECT value FROM system.settings WHERE name = 'max_threads'",
        ),
        ("database=system", b"SELECT currentDatabase()"),
        // How tracehouse reads: read-only, settings still allowed.
        (
            "readonly=2&max_threads=3",
            b"SELECT value FROM system.settings WHERE name = 'max_threads'",
        ),
    ];
    for (query_string, body) in cases {
        let old = ask(Engine::ClickHouse18, query_string, body).await;
        let current = ask(Engine::Chdb, query_string, body).await;
        assert_eq!((old.status, current.status), (200, 200), "{query_string}");
        assert_eq!(current.body, old.body, "{query_string}");
    }
    let after = ask(
        Engine::Chdb,
        "",
        b"SELECT value FROM system.settings WHERE name = 'max_threads'",
    )
    .await;
    assert_ne!(after.body, b"3\n", "a setting outlived its query");
}

/// A RowBinary body far past `max_query_size` (256 KiB) is stored whole: chDB cuts a query's
/// inline data short without an error, so the endpoint must not pass rows through the parser.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_rowbinary_insert_is_stored_whole() {
    const ROWS: u64 = 200_000;
    let mut rows = Vec::new();
    for n in 0..ROWS {
        rows.extend_from_slice(&n.to_le_bytes());
        // A string with the bytes a parser would stop at: NUL, newline, semicolon.
        rows.extend_from_slice(&[3, 0, b'\n', b';']);
    }
    let rows: &'static [u8] = Vec::leak(rows);
    for engine in [Engine::ClickHouse18, Engine::Chdb] {
        let database = common::clickhouse::database_for("large_insert");
        for statement in [
            format!("CREATE DATABASE {database}"),
            format!("CREATE TABLE {database}.t (n UInt64, s String) ENGINE = MergeTree ORDER BY n"),
        ] {
            common::clickhouse::query(&engine.url(), &statement)
                .await
                .expect("ddl");
        }
        let insert = format!("query=INSERT%20INTO%20{database}.t%20(n,%20s)%20FORMAT%20RowBinary");
        let answer = ask(engine, &insert, rows).await;
        assert_eq!(
            answer.status,
            200,
            "{engine:?}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let stored = common::clickhouse::query(
            &engine.url(),
            &format!("SELECT count(), sum(n), uniqExact(s) FROM {database}.t FORMAT TSV"),
        )
        .await
        .expect("count");
        assert_eq!(
            stored,
            format!("{ROWS}\t{}\t1\n", ROWS * (ROWS - 1) / 2),
            "{engine:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clickhouse_block_compression_is_refused_loudly() {
    let answer = ask(
        Engine::Chdb,
        "decompress=1&query=INSERT%20INTO%20t%20FORMAT%20RowBinary",
        b"x",
    )
    .await;
    assert_eq!(
        (answer.status, answer.exception_code.as_deref()),
        (501, Some("48"))
    );
}
