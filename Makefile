# The two commands of the README: `make demo` and `make test`. Both create the virtual environment if needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $(STAMP)

test: venv
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)

# ---- the embedded zoo data set and the models trained on it -------------------------------------------------
ZOO ?= data/zoo
RUNS ?= runs
VQ_STEPS ?= 2600

.PHONY: zoo train-vq-zoo eval-vq-zoo

zoo: $(ZOO)/animals/Mean.npy

$(ZOO)/animals/Mean.npy: | venv
	$(PY) -m utils.zoo build --out $(ZOO)

# The two tokenizers train side by side, one core each (about an hour on 2 cores).
train-vq-zoo: zoo
	$(MAKE) -j2 $(RUNS)/vq_animals/model.safetensors $(RUNS)/vq_people/model.safetensors

$(RUNS)/vq_%/model.safetensors: | venv
	$(PY) train_vq.py --data $(ZOO)/$* --out $(RUNS)/vq_$* --config cpu --threads 1 --max-steps $(VQ_STEPS) \
		--lr 4e-4 --warmup-steps 200 --val-every 500 --ckpt-every 250 --no-progress \
		$(if $(wildcard $(RUNS)/vq_$*/state),--resume,)

eval-vq-zoo:
	$(PY) eval_vq.py --checkpoint $(RUNS)/vq_animals/model.safetensors $(RUNS)/vq_people/model.safetensors \
		--data $(ZOO)/animals $(ZOO)/people --out results/eval_vq
