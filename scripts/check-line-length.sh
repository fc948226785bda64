#!/usr/bin/env bash
# Lists every line longer than MAX columns (default 120) in the project's own code: Swift and C under Sources/,
# Tests/ and Fuzz/Sources/, and the scripts; fixture data under Tests/Fixtures is left out (generated JSON,
# tokenizer files), as are build folders and Markdown (a table row cannot wrap). Columns are Unicode characters (a tab counts as one).
#
# usage: scripts/check-line-length.sh [MAX]
# exit:  0 none too long, 1 some (listed as file:line: N columns), 2 bad usage
set -euo pipefail

max=${1:-120}
case $max in ''|*[!0-9]*) echo "usage: $0 [MAX]" >&2; exit 2 ;; esac
cd "$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"

# Tracked and untracked-but-not-ignored files, so a new file is checked before it is committed.
files=()
while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f")
done < <(git ls-files -z --cached --others --exclude-standard -- \
    'Sources/**' 'Tests/**' 'Fuzz/Sources/**' 'scripts/**' ':(exclude)*.md' \
    ':(exclude)Tests/Fixtures/**')

[ ${#files[@]} -eq 0 ] && exit 0
# Perl with UTF-8 input counts characters (mawk counts bytes).
perl -CSD -ne '
    s/\r?\n\z//;
    if (length($_) > '"$max"') { print "$ARGV:$.: " . length($_) . " columns\n"; $bad++ }
    close ARGV if eof;  # $. restarts for each file
    END { if ($bad) { print STDERR "$bad lines longer than '"$max"' columns\n"; exit 1 } }
' "${files[@]}"
