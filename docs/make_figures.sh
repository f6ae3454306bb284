#!/usr/bin/env bash
# Regenerates every figure in README.md (run from the repository root after `pip install -e .`).
set -euo pipefail
out=docs/figures
mkdir -p "$out"
attnsim plot speedup --hw a100,h100,h200,b200 --seq-len 1k..128k --batch 1 --heads 32 --head-dim 128 -o "$out/speedup-gpus.png"
attnsim plot sparsity --hw h100 --algo flash2,flash3 --seq-len 32k --sparsity 0..0.95:12 -o "$out/sparsity-h100.png"
attnsim plot roofline --hw h100 --algo naive,flash2,flash3 --seq-len 1k,8k,64k -o "$out/roofline-h100.png"
attnsim plot breakdown --hw h100 --algo naive,flash2,flash3 --seq-len 16k -o "$out/breakdown-h100.png"
attnsim plot speedup --hw fusemax --algo fusemax,fusemax-arch --model bert --seq-len 1k..1m --baseline unfused@flat -o "$out/fusemax-bert.png"
attnsim plot speedup --hw h100,fusemax --algo attention-3pass,attention-sigmoid,attention-differential,attention-linear,attention-lightning --baseline attention-1pass --seq-len 1k..64k --head-dim 64 -o "$out/cascades.png"
attnsim plot validation validation/published/fa3-paper-h100.json -o "$out/validation-fa3-paper.png"
attnsim plot evidence -o "$out/evidence.png"
attnsim pattern show 'causal&window(8k)|sinks(2k)' --seq-len 128k --png "$out/pattern-window-sinks.png" > /dev/null
attnsim cascade show attention-1pass --graph "$out/cascade-1pass.png" > /dev/null
attnsim plot speedup --method minference --hw a100,h100,b200 --seq-len 16k..1m -o "$out/methods-minference.png"
attnsim plot speedup --algo flash2 --causal --pattern 'heads(16: full, 16: sinks(64)|window(256))' --model llama3-8b --hw a100,h100,b200 --seq-len 4k..256k -o "$out/methods-duoattention.png"
attnsim pattern show 'window2d(64,64,13,13)' --seq-len 4k --block-size 128 --png "$out/methods-natten-tiles.png" > /dev/null
attnsim plot breakdown --method nsa --hw h100 --algo nsa-select,nsa-select@kv-outer --heads 64 --kv-heads 4 --seq-len 64k -o "$out/methods-nsa-breakdown.png"
echo "figures written to $out"
