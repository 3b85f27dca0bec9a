"""payouts: pays the winners of resolved challenges, exactly once."""
