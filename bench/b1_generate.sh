#!/usr/bin/env bash
# B1 generation: topup.generate_vouchers of BENCH_QUANTITY vouchers vs a bare-SQL INSERT.
#
# SELECT topup.generate_vouchers('B1x', 1000000, ...) against one INSERT ...
# SELECT from generate_series writing the same columns (random 12-digit PIN
# from pgcrypto gen_random_bytes, hmac() for pin_hash, encrypt_iv() AES-CBC
# for pin_cipher) into bench_floor.vouchers (bench/generate_floor.sql).
# Both start from empty tables (a new extension before each run).  Also the
# peak anonymous memory (RssAnon, sampled every 100 ms) of the generating
# backend.  Targets: time <= 1.0x floor, peak RssAnon < 256 MB.
#
# Environment: bench/lib.sh's (BENCH_RUNS, BENCH_QUANTITY).
#
# Run alone: bash bench/b1_generate.sh (or bash bench/run.sh B1).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_attach

EXT_SQL="SELECT quantity FROM topup.generate_vouchers('B1x', $Q, 10, 'USD', 12, NULL, NULL, 'bench');"
FLOOR_SQL="\\i '$BENCH_DIR/generate_floor.sql'"
RETRIES=0

# b1_topup TAG: one generation through the extension
b1_topup() {
	local tag=$1
	prep
	timed_session "$tag" "$EXT_SQL" || die "generate_vouchers failed: $(cat "$BENCH_WORK/$tag/err")"
	[[ $(bval "SELECT count(*) FROM topup.vouchers WHERE client_id = 'bench' AND status = 'new'") == "$Q" ]] ||
		die "generate_vouchers did not write $Q vouchers"
	rec topup_t "$(session_result "$tag" elapsed)"
	rec topup_cpu "$(session_result "$tag" cpu)"
	rec topup_rss "$(session_result "$tag" rss)"
	rec topup_hwm "$(session_result "$tag" hwm)"
	rec topup_n "$(session_result "$tag" samples)"
}

# b1_floor TAG: the floor INSERT, repeated when two random PINs collide
b1_floor() {
	local tag=$1 attempt hk ek
	hk=$(bval "SELECT encode(hmac_key, 'hex') FROM topup.secret")
	ek=$(bval "SELECT encode(enc_key, 'hex') FROM topup.secret")
	for ((attempt = 1; attempt <= 6; attempt++)); do
		bq -c 'TRUNCATE bench_floor.vouchers'
		prep
		if timed_session "$tag" "$FLOOR_SQL" -v q="$Q" -v hk="$hk" -v ek="$ek" -v pgcrypto="$PGCRYPTO"; then
			rec floor_t "$(session_result "$tag" elapsed)"
			rec floor_cpu "$(session_result "$tag" cpu)"
			rec floor_rss "$(session_result "$tag" rss)"
			return
		fi
		grep -q 'duplicate key value violates unique constraint' "$BENCH_WORK/$tag/err" ||
			die "floor INSERT failed: $(cat "$BENCH_WORK/$tag/err")"
		RETRIES=$((RETRIES + 1))
		topup_say "floor attempt $attempt: two random PINs collided; again"
	done
	die "floor INSERT kept colliding"
}

topup_header "B1 generation of $Q vouchers"
say ""
say "== B1 generation: $Q vouchers, 12-digit PINs, $BENCH_RUNS runs =="
say "topup:  SELECT topup.generate_vouchers('B1x', $Q, 10, 'USD', 12, NULL, NULL, 'bench')"
say "floor:  bench/generate_floor.sql: one INSERT ... SELECT FROM generate_series into bench_floor.vouchers"
say "        (same columns and indexes, no triggers): PIN digits from $PGCRYPTO.gen_random_bytes(8),"
say "        pin_hash = hmac(pin, key, 'sha256'), pin_cipher = encrypt_iv(pin, key, first 16 bytes of"
say "        pin_hash, 'aes-cbc') (the ciphertext IS included in the floor).  On a birthday collision of"
say "        two random 12-digit PINs (~40% of 1M batches) the floor attempt is discarded and repeated."
say "memory: RssAnon of the generating backend sampled every 100 ms (peak); VmHWM is peak RSS"
say "        and also counts the shared_buffers pages the backend touched, so it is not the target."

for ((r = 1; r <= BENCH_RUNS; r++)); do
	reset_db
	for side in $(alternate "$r" topup floor); do
		topup_say "B1 run $r: $side"
		"b1_$side" "b1_${side}_$r"
	done
	say "$(printf 'run %d: topup %7.2f s (cpu %6.2f s, peak RssAnon %4d MB of %d samples, VmHWM %4d MB)   floor %7.2f s (cpu %6.2f s, peak RssAnon %4d MB)' \
		"$r" "$(last topup_t)" "$(last topup_cpu)" $(($(last topup_rss) / 1024)) "$(last topup_n)" $(($(last topup_hwm) / 1024)) \
		"$(last floor_t)" "$(last floor_cpu)" $(($(last floor_rss) / 1024)))"
done

mt=$(med topup_t)
mf=$(med floor_t)
mc=$(med topup_cpu)
mfc=$(med floor_cpu)
rss=$(maxv topup_rss)
tratio=$(ratio "$mt" "$mf")
cratio=$(ratio "$mc" "$mfc")
say "median: topup $(calc "$mt" %.2f) s, floor $(calc "$mf" %.2f) s, ratio topup/floor ${tratio}x (target <= 1.0x)"
say "        backend CPU: topup $(calc "$mc" %.2f) s, floor $(calc "$mfc" %.2f) s, ratio ${cratio}x"
say "        throughput: topup $(calc "$Q / $mt" %.0f) vouchers/s, floor $(calc "$Q / $mf" %.0f) rows/s"
say "        peak RssAnon of generate_vouchers (max of runs): $((rss / 1024)) MB (target < 256 MB);" \
	"median VmHWM $(calc "$(med topup_hwm) / 1024" %d) MB"
say "        floor attempts discarded for PIN collisions: $RETRIES"
summary "B1 generate $Q" "time (s)" "$(calc "$mt" %.2f)" "$(calc "$mf" %.2f)" "${tratio}x" "<= 1.0x" \
	"$(verdict "$tratio" '<=' 1.0)"
summary "B1 generate $Q" "backend CPU (s)" "$(calc "$mc" %.2f)" "$(calc "$mfc" %.2f)" "${cratio}x" "(info)" ""
summary "B1 generate $Q" "peak RssAnon (MB)" "$((rss / 1024))" "-" "-" "< 256 MB" \
	"$(verdict "$rss" '<' $((256 * 1024)))"
