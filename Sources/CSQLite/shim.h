// Debian's libsqlite3 (libsqlite3-dev), used by Sv2Accounting's SQLite ledger store.
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: bind text that SQLite must copy.
static inline int csqlite_bind_text_transient(sqlite3_stmt *statement, int index, const char *text, int length) {
    return sqlite3_bind_text(statement, index, text, length, SQLITE_TRANSIENT);
}
