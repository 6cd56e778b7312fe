"""The notifications service: telling the right people the right thing, once, on the channels
they chose."""
