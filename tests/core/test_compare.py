from headwatch.core.compare import differing_labels


def base(**kw):
    return {"n_layer": 4, "n_head": 4, "n_embd": 128, "learning_rate": 1e-3, "corpus": "x", **kw}


def test_labels_name_only_what_differs():
    assert differing_labels([base(n_head=1), base(n_head=4)]) == ["heads=1", "heads=4"]
    assert differing_labels([base(n_head=1), base(learning_rate=3e-3)]) == [
        "heads=1 · lr=0.001",
        "heads=4 · lr=0.003",
    ]


def test_single_and_identical_runs_get_numbers():
    assert differing_labels([base()]) == ["run 1"]
    assert differing_labels([base(), base()]) == ["run 1", "run 2"]
    labels = differing_labels([base(n_head=1), base(), base()])
    assert labels == ["heads=1", "heads=4 #2", "heads=4 #3"]
