# The two commands of the README: `make demo` and `make test`. Both create the virtual environment if needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test app clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $(STAMP)

# Generate motions from the example prompts with the bundled models (checkpoints/); prints where the files are.
demo: venv
	$(PY) demo.py

# The browser test drives the web demo in Debian's chromium: installed here when missing (apt-get, as root).
test: venv
	bash .ci/install_browser.sh
	$(PY) -m pytest

# The web demo on http://127.0.0.1:7860 with the bundled models (python app.py --help for the options).
app: venv
	$(PY) app.py

clean-venv:
	rm -rf $(VENV)

# ---- the embedded zoo data set and the models trained on it -------------------------------------------------
ZOO ?= data/zoo
RUNS ?= runs
VQ_STEPS ?= 2000
VQ_ANIMAL_STEPS ?= 7500
VQ_LR ?= 1.5e-3
VQ_PRECISION ?= bf16

.PHONY: zoo train-vq-zoo eval-vq-zoo

zoo: $(ZOO)/animals/Mean.npy

$(ZOO)/animals/Mean.npy: | venv
	$(PY) -m utils.zoo build --out $(ZOO)

# The two tokenizers train one after the other on both cores, under bfloat16 autocast (1.39x faster steps; the
# output layer stays float32, see models/vq/rvqvae.py), within an hour on 2 cores. People first and short: they
# reach the 25 mm target with room to spare, and the animals, which need every step for 20 mm, get the rest of the
# hour: alone on 2 threads they make 2.9 steps/s (median) against 1.8 side by side on one thread each. 53 min in
# all: people 10 min (15.8 mm), animals 43 min (21.5 mm); side by side, 6,000 steps each, took 58 min and gave
# 8.2 / 22.1 mm. The long warm-up matters at this rate: an 800-step probe with 100 warm-up steps never learned the
# animals' yaw velocity (its heading loss stayed flat). train_vq.py's joint-position loss in metres (--joint-weight,
# default 1) took 1,500-step animal probes from 56.9 to 48.4 mm validation MPJPE (0.1: 55.9, 0.5: 50.3, 2: 47.0 but
# unsteady at 750 steps).
train-vq-zoo: zoo
	$(MAKE) $(RUNS)/vq_people/model.safetensors
	$(MAKE) $(RUNS)/vq_animals/model.safetensors

$(RUNS)/vq_animals/model.safetensors: VQ_STEPS = $(VQ_ANIMAL_STEPS)

$(RUNS)/vq_%/model.safetensors: | venv
	$(PY) train_vq.py --data $(ZOO)/$* --out $(RUNS)/vq_$* --config cpu --threads 2 --max-steps $(VQ_STEPS) \
		--lr $(VQ_LR) --mixed-precision $(VQ_PRECISION) --warmup-steps 500 --val-every 1000 --ckpt-every 250 \
		--no-progress \
		$(if $(wildcard $(RUNS)/vq_$*/state),--resume,)

eval-vq-zoo:
	$(PY) eval_vq.py --checkpoint $(RUNS)/vq_animals/model.safetensors $(RUNS)/vq_people/model.safetensors \
		--data $(ZOO)/animals $(ZOO)/people --out results/eval_vq

# Lifters (people: h36m17 video keypoints -> humanml22; animals: animo30 -> animo30) and the per-frame MLP baseline,
# one after another on both cores (the baseline takes the people lifter's steps and learning rate, so the comparison
# is fair); then the text-motion evaluators, one core each. The lifters train under bfloat16 autocast (1.39x faster
# steps on this CPU; the regression head stays float32, see models/lifter.py).
LIFT_STEPS ?= 3800
LIFT_LR ?= 1.5e-3
LIFT_PRECISION ?= bf16
LIFT_ANIMAL_STEPS ?= 400
EVAL_STEPS ?= 700

.PHONY: train-lift-zoo eval-lift-zoo train-evaluator-zoo eval-t2m-zoo

train-lift-zoo: zoo
	$(MAKE) $(RUNS)/lift_people/model.safetensors
	$(MAKE) $(RUNS)/lift_people_mlp/model.safetensors
	$(MAKE) $(RUNS)/lift_animals/model.safetensors LIFT_STEPS=$(LIFT_ANIMAL_STEPS)

$(RUNS)/lift_people_mlp/model.safetensors: | venv
	$(PY) train_lifter.py --data $(ZOO)/people --out $(RUNS)/lift_people_mlp --backbone mlp --threads 2 \
		--max-steps $(LIFT_STEPS) --lr $(LIFT_LR) --mixed-precision $(LIFT_PRECISION) --val-every 550 --ckpt-every 250 \
		--no-progress $(if $(wildcard $(RUNS)/lift_people_mlp/state),--resume,)

$(RUNS)/lift_%/model.safetensors: | venv
	$(PY) train_lifter.py --data $(ZOO)/$* --out $(RUNS)/lift_$* --threads 2 --max-steps $(LIFT_STEPS) \
		--lr $(LIFT_LR) --mixed-precision $(LIFT_PRECISION) --val-every 550 --ckpt-every 250 --no-progress \
		$(if $(wildcard $(RUNS)/lift_$*/state),--resume,)

eval-lift-zoo:
	$(PY) eval_lift.py --checkpoint $(RUNS)/lift_people/model.safetensors $(RUNS)/lift_people_mlp/model.safetensors \
		--data $(ZOO)/people --out results/eval_lift_people
	$(PY) eval_lift.py --checkpoint $(RUNS)/lift_animals/model.safetensors --data $(ZOO)/animals \
		--out results/eval_lift_animals

train-evaluator-zoo: zoo
	$(MAKE) -j2 $(RUNS)/eval_animals/model.safetensors $(RUNS)/eval_people/model.safetensors

$(RUNS)/eval_%/model.safetensors: | venv
	$(PY) train_evaluator.py --data $(ZOO)/$* --out $(RUNS)/eval_$* --threads 1 --max-steps $(EVAL_STEPS) \
		--lr 5e-4 --warmup-steps 100 --val-every 350 --ckpt-every 100 --no-progress \
		$(if $(wildcard $(RUNS)/eval_$*/state),--resume,)

# Text to motion on the zoo tokenizers, one model at a time on both cores under bfloat16 autocast (a masked
# transformer without words made 3.2-5.3 steps/s alone, with words 1.7-1.9): the animals' masked and residual
# transformers, then the people's.
# The codes of each data set are computed once (.cache/codes).
T2M_ANIMAL_STEPS ?= 3000
T2M_PEOPLE_STEPS ?= 2000
RES_STEPS ?= 2000
T2M_FLAGS = --config cpu --threads 2 --mixed-precision bf16 --lr 4e-4 --warmup-steps 200 --ckpt-every 250 --no-progress

.PHONY: train-t2m-zoo

train-t2m-zoo: zoo
	$(MAKE) $(RUNS)/t2m_animals/model.safetensors $(RUNS)/res_animals/model.safetensors
	$(MAKE) $(RUNS)/t2m_people/model.safetensors $(RUNS)/res_people/model.safetensors

# both masked transformers read the captions' words too (the trainer's default --text-words 48), which halves the
# steps per second: 3,000 animal steps took 30 min and generated better than 6,000 without; 2,000 people steps took
# 19 min and generated better than 3,000 without (README)
$(RUNS)/t2m_animals/model.safetensors: T2M_STEPS = $(T2M_ANIMAL_STEPS)
$(RUNS)/t2m_people/model.safetensors: T2M_STEPS = $(T2M_PEOPLE_STEPS)
$(RUNS)/t2m_%/model.safetensors: T2M_VAL_EVERY = 1000

$(RUNS)/t2m_%/model.safetensors: | venv
	$(PY) train_t2m_transformer.py --data $(ZOO)/$* --tokenizer $(RUNS)/vq_$*/model.safetensors --out $(RUNS)/t2m_$* \
		$(T2M_FLAGS) --max-steps $(T2M_STEPS) --val-every $(T2M_VAL_EVERY) \
		--evaluator $(RUNS)/eval_$*/model.safetensors \
		$(if $(wildcard $(RUNS)/t2m_$*/state),--resume,)

$(RUNS)/res_%/model.safetensors: | venv
	$(PY) train_res_transformer.py --data $(ZOO)/$* --tokenizer $(RUNS)/vq_$*/model.safetensors --out $(RUNS)/res_$* \
		$(T2M_FLAGS) --max-steps $(RES_STEPS) --val-every 500 $(if $(wildcard $(RUNS)/res_$*/state),--resume,)

T2M_EVAL = $(if $(wildcard $(RUNS)/t2m_$(1)/model.safetensors),--transformer $(RUNS)/t2m_$(1)/model.safetensors \
	--residual $(RUNS)/res_$(1)/model.safetensors,) $(if $(wildcard $(RUNS)/t2m_$(1)/body_estimator.safetensors),\
	--body-estimator $(RUNS)/t2m_$(1)/body_estimator.safetensors,)

eval-t2m-zoo:
	$(PY) eval_t2m.py --evaluator $(RUNS)/eval_animals/model.safetensors --data $(ZOO)/animals \
		--tokenizer $(RUNS)/vq_animals/model.safetensors $(call T2M_EVAL,animals) --baselines --out results/t2m_animals
	$(PY) eval_t2m.py --evaluator $(RUNS)/eval_people/model.safetensors --data $(ZOO)/people \
		--tokenizer $(RUNS)/vq_people/model.safetensors $(call T2M_EVAL,people) --baselines --out results/t2m_people

# ---- the whole chain: train every zoo model, bundle them into checkpoints/, write the eval tables ---------------
.PHONY: train-zoo bundle eval-bundled

train-zoo: zoo
	$(MAKE) train-vq-zoo
	$(MAKE) train-evaluator-zoo
	$(MAKE) train-lift-zoo
	$(MAKE) train-t2m-zoo
	$(MAKE) bundle
	$(MAKE) eval-bundled

bundle:
	$(PY) bundle_models.py --runs $(RUNS) --out checkpoints

# The model card's tables, from the bundled (float16) files.
eval-bundled: zoo
	$(PY) eval_vq.py --data $(ZOO)/animals $(ZOO)/people --out results/bundled/eval_vq
	$(PY) eval_lift.py --data $(ZOO)/people --out results/bundled/eval_lift_people
	$(PY) eval_lift.py --data $(ZOO)/animals --out results/bundled/eval_lift_animals
	for d in animals people; do $(PY) eval_t2m.py --data $(ZOO)/$$d --tokenizer checkpoints/$$d/tokenizer.safetensors \
		--transformer checkpoints/$$d/mask_transformer.safetensors \
		--residual checkpoints/$$d/residual_transformer.safetensors --baselines --out results/bundled/t2m_$$d \
		$$(test -f checkpoints/$$d/body_estimator.safetensors && \
		echo --body-estimator checkpoints/$$d/body_estimator.safetensors) || exit 1; done
