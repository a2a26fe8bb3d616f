"""The stages of a study, each usable alone (docs/architecture.md): building fresh models
over data loaded once (:mod:`.models`), training (:mod:`.train`), distilling a slot
(:mod:`.distill`), selecting an equation (:mod:`.select`), reinserting it
(:mod:`.reinsert`), scoring and comparing variants (:mod:`.score`), k-fold over sites
(:mod:`.site_folds`), with the :class:`~.variants.Variants` registry between them."""
